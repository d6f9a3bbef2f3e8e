from django.contrib import admin

from message.models import Message


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["short_content", "role", "status", "session", "model", "completion_tokens", "ttfb_ms", "created_at"]
    list_filter = ["role", "status", "model", "error_code"]
    search_fields = ["content", "id", "session__title", "session__id"]
    list_select_related = ["session", "model"]
    raw_id_fields = ["session", "parent"]
    readonly_fields = ["id", "created_at", "updated_at"]

    @admin.display(description="content")
    def short_content(self, obj):
        return obj.content[:80] or "—"
