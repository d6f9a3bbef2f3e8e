"""The first-run page's cloud provider step (`/setup/provider/`, ai_model.views): no network call."""

import pytest

from ai_model.models import AIModel, Provider
from ai_model.services import CLOUD_DEFAULTS, local_model_ensure

pytestmark = pytest.mark.django_db

SIGNUP = {"username": "admin", "password1": "a-Strong-pass-9", "password2": "a-Strong-pass-9"}


def test_first_run_offers_a_cloud_key_and_creates_the_provider_and_its_models(client):
    local_model_ensure()
    res = client.post("/setup/", SIGNUP)
    assert res.status_code == 302 and res.url == "/setup/provider/"
    page = client.get("/setup/provider/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="api_key"' in html and 'type="password"' in html and "Skip" in html
    assert all(f'value="{kind}"' in html for kind in ("openai", "anthropic", "gemini"))

    res = client.post("/setup/provider/", {"kind": "anthropic", "api_key": " sk-ant-test-key-123 "})
    assert res.status_code == 302 and res.url == "/"
    provider = Provider.objects.get(kind="anthropic")
    assert provider.name == "Anthropic" and provider.api_key == "sk-ant-test-key-123" and provider.enabled
    stored = Provider.objects.filter(pk=provider.pk).values_list("api_key", flat=True)
    from django.db import connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM ai_model_provider WHERE id = %s", [provider.pk.hex])
        raw = cursor.fetchone()[0]
    assert "sk-ant-test-key-123" not in raw and list(stored) == ["sk-ant-test-key-123"]  # encrypted at rest
    models = list(AIModel.objects.filter(provider=provider).order_by("created_at").values_list("model_id", "enabled", "supports_tools"))
    assert models == [(model_id, True, True) for model_id, _ in CLOUD_DEFAULTS["anthropic"][1]]

    # The key again (or a new one): the provider gets it, nothing doubles, admin edits stay.
    AIModel.objects.filter(model_id="claude-haiku-4-5").update(display_name="Haiku", enabled=False)
    client.post("/setup/provider/", {"kind": "anthropic", "api_key": "sk-ant-new-key-456"})
    assert Provider.objects.filter(kind="anthropic").count() == 1
    assert Provider.objects.get(kind="anthropic").api_key == "sk-ant-new-key-456"
    haiku = AIModel.objects.get(model_id="claude-haiku-4-5")
    assert (haiku.display_name, haiku.enabled) == ("Haiku", False) and AIModel.objects.filter(provider=provider).count() == 2


def test_the_embedded_model_stays_the_default_with_a_cloud_key(local_model):
    from asgiref.sync import async_to_sync

    from ai_model.selectors import ai_model_resolve
    from ai_model.services import cloud_provider_create

    cloud_provider_create(kind="openai", api_key="sk-test")
    assert AIModel.objects.filter(provider__kind="openai").count() == 2
    assert async_to_sync(ai_model_resolve)().pk == local_model.pk


def test_bad_input_is_shown_on_the_form_and_nothing_is_stored(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="root-pass-123")
    client.force_login(admin)
    res = client.post("/setup/provider/", {"kind": "cohere", "api_key": "k"})
    assert res.status_code == 200 and "Select a valid choice" in res.content.decode()
    res = client.post("/setup/provider/", {"kind": "openai", "api_key": "two words"})
    assert res.status_code == 200 and "one line, no spaces" in res.content.decode()
    res = client.post("/setup/provider/", {"kind": "openai", "api_key": ""})
    assert res.status_code == 200 and "required" in res.content.decode()
    assert not Provider.objects.exists()


def test_only_a_superuser_may_add_a_provider_here(client, django_user_model):
    assert client.get("/setup/provider/").url == "/login/"
    user = django_user_model.objects.create_user("bob", password="bob-pass-123", is_staff=True)
    client.force_login(user)
    assert client.post("/setup/provider/", {"kind": "openai", "api_key": "sk-x"}).url == "/login/"
    assert not Provider.objects.exists()


def test_cloud_provider_create_refuses_unknown_kinds_naming_the_field():
    from ai_model.services import cloud_provider_create
    from core.errors import DomainError

    with pytest.raises(DomainError) as caught:
        cloud_provider_create(kind="ollama", api_key="x")
    assert caught.value.field == "kind" and caught.value.code == "invalid_kind"
