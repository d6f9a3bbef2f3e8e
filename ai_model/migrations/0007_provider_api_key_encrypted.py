"""Provider API keys encrypted at rest (core/encryption.py).

The column becomes text (a Fernet token is longer than its plaintext), then every stored
key that is not already a token of FIELD_ENCRYPTION_KEYS is encrypted in place. Raw SQL,
because the model's field already decrypts on load. Reversed, the keys are decrypted again.
"""

from django.db import migrations

import core.encryption


def _rows(apps, schema_editor):
    provider = apps.get_model("ai_model", "Provider")
    connection = schema_editor.connection
    table = connection.ops.quote_name(provider._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, api_key FROM {table} WHERE api_key <> ''")
        rows = cursor.fetchall()
    return table, rows


def _rewrite(schema_editor, table, updates):
    with schema_editor.connection.cursor() as cursor:
        for pk, value in updates:
            cursor.execute(f"UPDATE {table} SET api_key = %s WHERE id = %s", [value, pk])


def encrypt_keys(apps, schema_editor):
    table, rows = _rows(apps, schema_editor)
    updates = [(pk, core.encryption.encrypt(value)) for pk, value in rows if not core.encryption.is_encrypted(value)]
    _rewrite(schema_editor, table, updates)


def decrypt_keys(apps, schema_editor):
    table, rows = _rows(apps, schema_editor)
    updates = [(pk, core.encryption.decrypt(value)) for pk, value in rows if core.encryption.is_encrypted(value)]
    _rewrite(schema_editor, table, updates)


class Migration(migrations.Migration):

    dependencies = [
        ("ai_model", "0006_aimodel_prices"),
    ]

    operations = [
        migrations.AlterField(
            model_name="provider",
            name="api_key",
            field=core.encryption.EncryptedTextField(blank=True),
        ),
        migrations.RunPython(encrypt_keys, decrypt_keys),
    ]
