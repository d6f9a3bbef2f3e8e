from django.core.management.base import BaseCommand

from ai_model.providers.local import default_model_path, runtime_available
from ai_model.services import local_model_ensure


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
            from ai_model.providers.local import LocalEngine

            LocalEngine.get().warm_up()
            self.stdout.write("Model loaded.")
