import httpx
import pytest

from accounts.models import ApiToken

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def anon():
    from config.asgi import application

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://127.0.0.1") as client:
        yield client


async def test_token_issue_use_and_revoke(anon, user):
    res = await anon.post("/api/auth/token", json={"username": "alice", "password": "alice-pass-123"})
    assert res.status_code == 201
    key = res.json()["token"]
    stored = await ApiToken.objects.aget(user=user)
    assert key not in (stored.key_hash, stored.prefix) and stored.key_hash != key and len(stored.key_hash) == 64
    for scheme in ("Bearer", "Token"):
        assert (await anon.get("/api/sessions", headers={"Authorization": f"{scheme} {key}"})).status_code == 200
    assert (await anon.delete("/api/auth/token", headers={"Authorization": f"Bearer {key}"})).status_code == 204
    assert (await anon.get("/api/sessions", headers={"Authorization": f"Bearer {key}"})).status_code == 401


async def test_wrong_password_and_bad_body(anon, user):
    res = await anon.post("/api/auth/token", json={"username": "alice", "password": "nope"})
    assert res.status_code == 401 and res.json()["code"] == "invalid_credentials"
    res = await anon.post("/api/auth/token", json={"username": "alice"})
    assert res.status_code == 400 and "password" in res.json()["detail"]
    assert await ApiToken.objects.acount() == 0


async def test_health_endpoints(anon):
    assert (await anon.get("/healthz")).status_code == 200
    res = await anon.get("/readyz")
    assert res.status_code == 200 and res.json()["checks"]["database"] == "ok"


async def test_readyz_reports_unreachable_redis(anon, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    res = await anon.get("/readyz")
    assert res.status_code == 503 and res.json()["checks"]["redis"].startswith("error")


def test_first_run_setup_then_login(client, django_user_model):
    assert client.get("/").url == "/setup/"
    res = client.post("/setup/", {"username": "admin", "password1": "a-Strong-pass-9", "password2": "a-Strong-pass-9"})
    assert res.status_code == 302
    admin = django_user_model.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert client.get("/").status_code == 200  # logged in by set-up
    assert client.get("/setup/").url == "/login/"  # one time only
    client.post("/logout/")
    assert client.get("/").url.startswith("/login/")
    assert client.post("/login/", {"username": "admin", "password": "a-Strong-pass-9"}).status_code == 302
    page = client.get("/")
    assert b"model-picker" in page.content


def test_admin_never_renders_provider_api_key(admin_client):
    from ai_model.models import Provider

    provider = Provider.objects.create(name="Cloud", kind="openai", base_url="https://x.invalid/v1", api_key="sk-very-secret-key-123456")
    page = admin_client.get(f"/admin/ai_model/provider/{provider.pk}/change/")
    assert page.status_code == 200 and b"sk-very-secret" not in page.content and b"123456" not in page.content
    data = {
        "name": "Cloud", "kind": "openai", "base_url": "https://x.invalid/v1", "api_key": "", "enabled": "on",
        "connect_timeout_s": "5", "first_token_timeout_s": "120", "read_timeout_s": "60",
    }
    assert admin_client.post(f"/admin/ai_model/provider/{provider.pk}/change/", data).status_code == 302
    provider.refresh_from_db()
    assert provider.api_key == "sk-very-secret-key-123456"  # empty field keeps the stored key
    assert b"sk-very" not in admin_client.get("/admin/ai_model/provider/").content


def test_session_page_url_serves_the_chat(admin_client, admin_user):
    from chat_session.models import ChatSession

    session = ChatSession.objects.create(owner=admin_user)
    assert admin_client.get(f"/s/{session.id}").status_code == 200
    assert admin_client.get("/s/0a932620-f448-45b8-b203-007c3b72cb87").status_code == 404  # not (or no longer) there
