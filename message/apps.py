from django.apps import AppConfig


class MessageConfig(AppConfig):
    name = "message"
    verbose_name = "Messages"
    default_auto_field = "django.db.models.BigAutoField"
