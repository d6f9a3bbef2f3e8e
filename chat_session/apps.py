from django.apps import AppConfig


class ChatSessionConfig(AppConfig):
    name = "chat_session"
    verbose_name = "Chat sessions"
    default_auto_field = "django.db.models.BigAutoField"
