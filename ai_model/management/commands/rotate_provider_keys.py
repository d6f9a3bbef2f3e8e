"""`manage.py rotate_provider_keys`: re-encrypt provider API keys with the newest key."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from ai_model.services import provider_keys_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every provider API key with the first key of FIELD_ENCRYPTION_KEYS. Put the new key "
        "first, keep the old ones after it, run this, then drop the old keys."
    )

    def handle(self, *args, **options):
        count = provider_keys_rotate()
        self.stdout.write(f"{count} provider API key(s) re-encrypted with the first key.")
