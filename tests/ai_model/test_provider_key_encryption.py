"""Provider API keys are stored encrypted (Fernet with FIELD_ENCRYPTION_KEYS) and read back
as plaintext; the migration encrypts old plaintext rows; `rotate_provider_keys` moves every
key to the newest encryption key."""

from __future__ import annotations

import uuid

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from ai_model.models import Provider
from ai_model.services import provider_keys_rotate

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "sk-live-0123456789abcdef-secret"


def _raw_key(pk) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM ai_model_provider WHERE id = %s", [pk.hex if connection.vendor == "sqlite" else pk])
        return cursor.fetchone()[0]


def _provider(name: str = "Cloud", api_key: str = SECRET) -> Provider:
    return Provider.objects.create(name=name, kind="openai", base_url="https://x.invalid/v1", api_key=api_key)


def test_the_column_holds_a_token_that_decrypts_to_the_key(settings):
    provider = _provider()
    raw = _raw_key(provider.pk)
    assert SECRET not in raw and raw.startswith("gAAAAA")  # a Fernet token
    assert Fernet(settings.FIELD_ENCRYPTION_KEYS[0]).decrypt(raw.encode()).decode() == SECRET
    assert Provider.objects.get(pk=provider.pk).api_key == SECRET  # every reader gets plaintext
    assert Provider.objects.filter(pk=provider.pk).values_list("api_key", flat=True)[0] == SECRET
    again = _provider("Other")
    assert _raw_key(again.pk) != raw  # a fresh IV each time: equal keys are not visible as such


def test_an_empty_key_stays_empty():
    provider = _provider(api_key="")
    assert _raw_key(provider.pk) == "" and Provider.objects.get(pk=provider.pk).api_key == ""


def test_rotation_re_encrypts_with_the_first_key(settings):
    old = settings.FIELD_ENCRYPTION_KEYS[0]
    provider = _provider()
    keyless = _provider("Keyless", api_key="")
    before = Provider.objects.get(pk=provider.pk).updated_at
    new = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    assert Provider.objects.get(pk=provider.pk).api_key == SECRET  # old tokens still read
    call_command("rotate_provider_keys")
    raw = _raw_key(provider.pk)
    assert Fernet(new).decrypt(raw.encode()).decode() == SECRET
    with pytest.raises(InvalidToken):
        Fernet(old).decrypt(raw.encode())
    assert _raw_key(keyless.pk) == ""
    settings.FIELD_ENCRYPTION_KEYS = [new]  # the old key can go now
    reloaded = Provider.objects.get(pk=provider.pk)
    assert reloaded.api_key == SECRET and reloaded.updated_at == before
    assert provider_keys_rotate() == 1


def test_a_key_encrypted_with_an_unlisted_key_fails_loudly(settings):
    provider = _provider()
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ImproperlyConfigured, match="does not decrypt with any of FIELD_ENCRYPTION_KEYS"):
        Provider.objects.get(pk=provider.pk)
    with pytest.raises(ImproperlyConfigured, match="does not decrypt"):
        provider_keys_rotate()  # nothing rewritten with a key that cannot be read


def test_a_malformed_key_is_a_clear_configuration_error(settings):
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    with pytest.raises(ImproperlyConfigured, match="comma-separated Fernet keys"):
        _provider()


def test_the_migration_encrypts_plaintext_rows_and_leaves_tokens_alone(settings):
    executor = MigrationExecutor(connection)
    # Every app's latest: going back in ai_model also unapplies the migrations of other apps
    # that depend on its later ones (chat_session's and message's assistant fields).
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate([("ai_model", "0006_aimodel_prices")])
    try:
        token = Fernet(settings.FIELD_ENCRYPTION_KEYS[0]).encrypt(b"sk-already-encrypted").decode()
        with connection.cursor() as cursor:
            for name, key in [("Plain", SECRET), ("Token", token), ("Empty", "")]:
                cursor.execute(
                    "INSERT INTO ai_model_provider (id, name, kind, base_url, api_key, enabled, connect_timeout_s,"
                    " first_token_timeout_s, read_timeout_s, created_at, updated_at)"
                    " VALUES (%s, %s, 'openai', '', %s, %s, 5, 120, 60, '2026-01-01', '2026-01-01')",
                    [uuid.uuid4().hex, name, key, True],
                )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
    keys = {p.name: p.api_key for p in Provider.objects.filter(name__in=["Plain", "Token", "Empty"])}
    assert keys == {"Plain": SECRET, "Token": "sk-already-encrypted", "Empty": ""}
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM ai_model_provider WHERE name = 'Plain'")
        assert SECRET not in cursor.fetchone()[0]


def test_admin_says_a_key_is_stored_without_showing_it(admin_client):
    provider = _provider()
    page = admin_client.get(f"/admin/ai_model/provider/{provider.pk}/change/").content.decode()
    assert "a key is stored (encrypted)" in page and SECRET not in page and _raw_key(provider.pk) not in page
    data = {
        "name": "Cloud", "kind": "openai", "base_url": "https://x.invalid/v1", "api_key": "sk-new-key-42", "enabled": "on",
        "connect_timeout_s": "5", "first_token_timeout_s": "120", "read_timeout_s": "60",
    }
    assert admin_client.post(f"/admin/ai_model/provider/{provider.pk}/change/", data).status_code == 302
    assert "sk-new-key-42" not in _raw_key(provider.pk)
    assert Provider.objects.get(pk=provider.pk).api_key == "sk-new-key-42"
    assert "no key is stored" in admin_client.get("/admin/ai_model/provider/add/").content.decode()


def test_manage_py_check_refuses_a_malformed_key(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(DATA_DIR=str(tmp_path), FIELD_ENCRYPTION_KEYS="short")
    done = subprocess.run([sys.executable, "manage.py", "check"], cwd=Path(__file__).resolve().parents[2], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "(core.E002) FIELD_ENCRYPTION_KEYS must be comma-separated Fernet keys" in done.stderr
