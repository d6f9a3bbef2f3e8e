"""`manage.py ensure_local_model`: create the embedded provider and model (idempotent)."""

from __future__ import annotations

import asyncio

from django.core.management.base import BaseCommand

from ai_model.providers.local import LocalEngine, default_model_path, runtime_available
from ai_model.services import local_model_ensure
from core.runtime import runtime


async def _warm_up() -> None:
    """Load the embedded model once, in a runtime of its own that is closed after."""
    try:
        await LocalEngine.get().warm_up()
    finally:
        await runtime().close()


class Command(BaseCommand):
    help = "Create the embedded local provider and model if missing (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--warm-up", action="store_true", help="Also load the model once to check it runs.")

    def handle(self, *args, warm_up=False, **options):
        model, created = local_model_ensure()
        self.stdout.write(f"{'Created' if created else 'Found'} local model {model.display_name} ({model.id}).")
        path = default_model_path()
        if not runtime_available():
            self.stdout.write(self.style.WARNING(
                "llama-cpp-python or the model file is missing; the local model will answer with an error."
            ))
        else:
            self.stdout.write(f"Model file: {path}")
        if warm_up and runtime_available():
            asyncio.run(_warm_up())
            self.stdout.write("Model loaded.")
