from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group

from accounts.models import ApiToken, UsageLimit


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


_LIMIT_FIELDS = [
    "concurrent_generations", "requests_per_minute", "models_per_comparison",
    "tokens_per_day", "tokens_per_month", "cost_per_day", "cost_per_month",
]


class UsageLimitInline(admin.StackedInline):
    """Limits and budgets on the user's or group's own page; empty fields inherit (a user's
    groups, then the defaults from the environment: README, "Limits, quotas and costs")."""

    model = UsageLimit
    fk_name = None
    extra = 0
    max_num = 1
    can_delete = True
    fields = _LIMIT_FIELDS
    verbose_name = verbose_name_plural = "limits and budgets"


class UserLimitInline(UsageLimitInline):
    fk_name = "user"


class GroupLimitInline(UsageLimitInline):
    fk_name = "group"


@admin.register(UsageLimit)
class UsageLimitAdmin(admin.ModelAdmin):
    """Every user's and group's limits in one list."""

    list_display = ["__str__", *_LIMIT_FIELDS]
    list_select_related = ["user", "group"]
    search_fields = ["user__username", "group__name"]
    autocomplete_fields = ["user", "group"]
    fields = ["user", "group", *_LIMIT_FIELDS]


User = get_user_model()
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class LimitedUserAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, UserLimitInline]


@admin.register(Group)
class LimitedGroupAdmin(GroupAdmin):
    inlines = [*GroupAdmin.inlines, GroupLimitInline]
