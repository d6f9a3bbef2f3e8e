"""`manage.py check_providers`: probe each provider's health and model list, with timings."""

from __future__ import annotations

import asyncio
import time

from django.core.management.base import BaseCommand

from ai_model.models import Provider
from ai_model.providers.registry import UnsupportedProviderKind, adapter_for
from core.runtime import runtime


async def _check(provider: Provider) -> list[str]:
    try:
        adapter = adapter_for(provider)
    except UnsupportedProviderKind as exc:
        return [f"{provider.name} [{provider.kind}]: {exc}"]
    started = time.perf_counter()
    available = await adapter.is_available()
    probe_ms = (time.perf_counter() - started) * 1000
    lines = [f"{provider.name} [{provider.kind}] {adapter.base_url or '(embedded)'}: "
             f"{'available' if available else 'UNAVAILABLE'} ({probe_ms:.0f} ms)"]
    started = time.perf_counter()
    try:
        models = await asyncio.wait_for(adapter.list_models(), 10)
        lines.append(f"  models ({(time.perf_counter() - started) * 1000:.0f} ms): {', '.join(models) or '(none)'}")
    except Exception as exc:  # report, never crash the listing
        lines.append(f"  models: failed after {(time.perf_counter() - started) * 1000:.0f} ms: {type(exc).__name__}: {getattr(exc, 'message', exc)}")
    return lines


class Command(BaseCommand):
    help = "Probe every provider: health, model list, and how long each took. API keys are never printed."

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="Include disabled providers.")

    def handle(self, *args, all=False, **options):
        providers = list(Provider.objects.all() if all else Provider.objects.filter(enabled=True))
        if not providers:
            self.stdout.write("No providers configured.")
            return

        async def run():
            try:
                return await asyncio.gather(*(_check(p) for p in providers))
            finally:
                await runtime().close()  # this loop's runtime: its HTTP client and adapters

        for lines in asyncio.run(run()):
            self.stdout.write("\n".join(lines))
