"""Uploaded files in the admin: read only; deleting one (or a selection) deletes its bytes
too, through `files.services.files_delete` (no `post_delete` signal)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from files.models import StoredFile
from files.services import files_delete

_FIELDS = ["id", "name", "owner", "kind", "mime", "size", "sha256", "content", "width", "height", "text_chars",
           "text_truncated", "created_at", "used_by", "text"]


@admin.register(StoredFile)
class StoredFileAdmin(admin.ModelAdmin):
    """Every user's uploads with the number of messages each is attached to."""

    list_display = ["name", "owner", "kind", "mime", "size", "created_at", "used_by"]
    list_filter = ["kind", "mime"]
    list_select_related = ["owner"]
    search_fields = ["name", "owner__username", "sha256"]
    fields = _FIELDS
    readonly_fields = _FIELDS
    date_hierarchy = "created_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet[StoredFile]:
        return super().get_queryset(request).annotate(used_by_count=Count("message_links"))

    @admin.display(description="used by (messages)", ordering="used_by_count")
    def used_by(self, obj: StoredFile) -> int:
        return obj.used_by_count

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: StoredFile) -> None:
        files_delete(queryset=StoredFile.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[StoredFile]) -> None:
        files_delete(queryset=StoredFile.objects.filter(pk__in=list(queryset.values_list("pk", flat=True))))
