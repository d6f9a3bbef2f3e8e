"""`manage.py rotate_provider_keys`: re-encrypt provider API keys (and MCP servers' secrets) with the newest key."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from ai_model.mcp.services import mcp_secrets_rotate
from ai_model.services import provider_keys_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every provider API key and MCP server secret with the first key of FIELD_ENCRYPTION_KEYS. Put the new key "
        "first, keep the old ones after it, run this, then drop the old keys."
    )

    def handle(self, *args, **options):
        count = provider_keys_rotate()
        self.stdout.write(f"{count} provider API key(s) re-encrypted with the first key.")
        servers = mcp_secrets_rotate()
        self.stdout.write(f"{servers} MCP server(s)' environment and headers re-encrypted with the first key.")
