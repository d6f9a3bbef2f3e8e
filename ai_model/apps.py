from django.apps import AppConfig


class AiModelConfig(AppConfig):
    name = "ai_model"
    verbose_name = "AI models"
    default_auto_field = "django.db.models.BigAutoField"
