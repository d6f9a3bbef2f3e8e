"""`manage.py check_providers`: probe each provider's health and model list, with timings;
with `--discover`, first probe LOCAL_RUNTIMES and register what answers (`ai_model.discovery`),
showing what was probed, what answered, and the models added or marked unavailable."""

from __future__ import annotations

import asyncio
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ai_model.discovery import local_runtimes_discover
from ai_model.models import AIModel, Provider
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
    gone = [m.model_id async for m in AIModel.objects.filter(provider=provider, available=False).order_by("model_id")]
    if gone:
        lines.append(f"  marked unavailable (no longer listed): {', '.join(gone)}")
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
        parser.add_argument("--discover", action="store_true",
                            help="First probe LOCAL_RUNTIMES and register the runtimes and models that answer.")

    def handle(self, *args, all=False, discover=False, **options):
        if discover:
            self._discover()
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

    def _discover(self) -> None:
        if not settings.LOCAL_RUNTIMES.strip():
            self.stdout.write("Discovery: LOCAL_RUNTIMES is empty, nothing to probe.")
            return

        async def run():
            try:
                return await local_runtimes_discover()
            finally:
                await runtime().close()

        try:
            results = asyncio.run(run())
        except ValueError as exc:  # a bad LOCAL_RUNTIMES
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Discovery of local runtimes (timeout {settings.DISCOVERY_TIMEOUT_S:g} s):")
        for result in results:
            self.stdout.write("\n".join("  " + line for line in result.lines()))
        self.stdout.write("")
