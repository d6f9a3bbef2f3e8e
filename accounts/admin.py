from django.contrib import admin

from accounts.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Keys are created through `POST /api/auth/token`; here they can be reviewed and revoked."""

    list_display = ["prefix", "user", "name", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["prefix", "name", "user__username"]
    readonly_fields = ["prefix", "user", "created_at", "last_used_at"]
    fields = ["prefix", "user", "name", "created_at", "last_used_at", "revoked_at"]

    def has_add_permission(self, request):
        return False
