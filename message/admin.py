from datetime import timedelta

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils import timezone

from message.generation.admission import day_start
from message.models import Message, UsageReport
from message.selectors import usage_grouped, usage_row
from message.serializers import UsageQuerySerializer


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["short_content", "role", "status", "session", "model", "completion_tokens", "cost", "ttfb_ms",
                    "created_at"]
    list_filter = ["role", "status", "model", "error_code"]
    search_fields = ["content", "id", "session__title", "session__id"]
    list_select_related = ["session", "model"]
    raw_id_fields = ["session", "parent"]
    readonly_fields = ["id", "created_at", "updated_at"]

    @admin.display(description="content")
    def short_content(self, obj):
        return obj.content[:80] or "—"


@admin.register(UsageReport)
class UsageReportAdmin(admin.ModelAdmin):
    """Tokens and cost per user and model between two dates (`?from=&to=`, default this
    month), from the stored replies; read only."""

    def changelist_view(self, request, extra_context=None):
        query = UsageQuerySerializer(data=request.GET.dict())
        valid = query.is_valid()
        today = timezone.localdate()
        start, end = (query.validated_data["from"], query.validated_data["to"]) if valid else (today.replace(day=1), today)
        rows = [usage_row(r) for r in usage_grouped(
            user_id=None, start=day_start(start), end=day_start(end + timedelta(days=1)), by_day=False)]
        totals = {key: sum(r[key] for r in rows) for key in ("replies", "prompt_tokens", "completion_tokens", "cost")}
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": "Usage report",
            "rows": rows, "totals": totals, "start": start, "end": end, "errors": None if valid else query.errors,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/message/usage_report.html", context)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
