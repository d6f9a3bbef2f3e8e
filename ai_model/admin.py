"""Admin pages for providers, models (with their fallback lists), assistants (with their grants),
the model and assistant leaderboards, and MCP servers."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django import forms
from django.contrib import admin, messages
from django.db.models import Avg, Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path
from django.views.decorators.http import require_POST

from ai_model.discovery import local_runtimes_discover
from ai_model.models import (
    AIModel,
    Assistant,
    AssistantGrant,
    AssistantLeaderboard,
    ModelFallback,
    ModelLeaderboard,
    Provider,
)
from ai_model.services import ai_model_default_set
from ai_model.tools import MCP_TOOL_NAME, tool_registry


class ProviderForm(forms.ModelForm):
    """The API key is write-only: the field is never filled from the stored value,
    and leaving it empty keeps the stored key."""

    base_url = forms.URLField(required=False, max_length=500, assume_scheme="https",
                              help_text="e.g. https://api.openai.com/v1")
    api_key = forms.CharField(
        required=False, max_length=500,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only. Leave empty to keep the stored key.",
    )
    clear_api_key = forms.BooleanField(required=False, help_text="Remove the stored key.")

    class Meta:
        model = Provider
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Say whether a key is stored, never any of it (it is stored encrypted, shown nowhere).
        stored = bool(self.instance.pk and self.instance.api_key)
        self.fields["api_key"].help_text = (
            "Write-only; a key is stored (encrypted). Leave empty to keep it." if stored
            else "Write-only; no key is stored."
        )

    def clean(self):
        data = super().clean()
        if data.get("clear_api_key"):
            data["api_key"] = ""
        elif not data.get("api_key") and self.instance.pk:
            data["api_key"] = self.instance.api_key
        return data


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    """Providers; the API key is shown only as set or not. "Discover local runtimes" (a
    button on the list) probes LOCAL_RUNTIMES and registers what answers (`ai_model.discovery`)."""

    form = ProviderForm
    list_display = ["name", "kind", "base_url", "enabled", "has_api_key", "first_token_timeout_s", "discovered"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name", "base_url"]
    readonly_fields = ["discovered_as"]

    @admin.display(boolean=True, description="API key set")
    def has_api_key(self, obj):
        return bool(obj.api_key)

    @admin.display(boolean=True, description="found locally")
    def discovered(self, obj):
        return bool(obj.discovered_as)

    def get_urls(self):
        view = self.admin_site.admin_view(require_POST(self.discover_view))
        return [path("discover/", view, name="ai_model_provider_discover"), *super().get_urls()]

    def discover_view(self, request: HttpRequest) -> HttpResponse:
        """POST: discover now; the outcome per runtime as admin messages, back to the list."""
        if not self.has_add_permission(request):
            return redirect("admin:ai_model_provider_changelist")
        try:
            # The admin's views are synchronous; discovery is async (probes at once).
            results = async_to_sync(local_runtimes_discover)()
        except ValueError as exc:  # a bad LOCAL_RUNTIMES
            self.message_user(request, str(exc), messages.ERROR)
            return redirect("admin:ai_model_provider_changelist")
        if not results:
            self.message_user(request, "LOCAL_RUNTIMES is empty: nothing to probe.", messages.WARNING)
        for result in results:
            level = messages.SUCCESS if result.probe.answered else messages.INFO
            self.message_user(request, " ".join(result.lines()), level)
        return redirect("admin:ai_model_provider_changelist")


class ModelFallbackInline(admin.TabularInline):
    """A model's ordered fallback list, edited on the model's page."""

    model = ModelFallback
    fk_name = "model"
    extra = 0
    ordering = ["position"]


@admin.register(AIModel)
class AIModelAdmin(admin.ModelAdmin):
    """Models users pick (chat) and remote speech engines."""

    list_display = ["display_name", "model_id", "provider", "purpose", "enabled", "is_default", "available",
                    "supports_tools", "supports_vision", "supports_reasoning", "input_price", "output_price"]
    actions = ["make_default"]

    @admin.action(description="Make the selected model the default")
    def make_default(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one model.", level=messages.ERROR)
            return
        model = queryset.get()
        ai_model_default_set(model=model)
        self.message_user(request, f"{model.display_name} is now the default model.")

    def save_model(self, request, obj, form, change):
        # Ticking "is default" on one model takes it off the previous default.
        wants_default = obj.is_default
        obj.is_default = False if wants_default else obj.is_default
        super().save_model(request, obj, form, change)
        if wants_default:
            ai_model_default_set(model=obj)
    list_filter = ["purpose", "enabled", "available", "provider__kind", "provider", "supports_tools", "supports_vision",
                   "supports_reasoning"]
    readonly_fields = ["discovered_at", "last_seen_at"]
    filter_horizontal = ["mcp_servers"]
    search_fields = ["display_name", "model_id", "provider__name"]
    list_select_related = ["provider"]
    inlines = [ModelFallbackInline]


@admin.register(ModelLeaderboard)
class ModelLeaderboardAdmin(admin.ModelAdmin):
    """Per model: replies, replies preferred by users, mean TTFB and mean tokens/s."""

    list_display = ["display_name", "provider", "replies", "preferred_replies", "mean_ttfb_ms", "mean_tokens_per_s"]
    list_select_related = ["provider"]
    list_filter = ["provider__kind"]
    search_fields = ["display_name", "model_id"]

    def get_queryset(self, request):
        replies = Q(messages__role="assistant", messages__status="complete")
        return (
            # Not super()'s: it orders by `get_ordering`, the annotations below, before they exist.
            self.model._default_manager.get_queryset()
            .annotate(
                n_replies=Count("messages", filter=replies),
                n_preferred=Count("messages", filter=replies & Q(messages__preferred=True)),
                avg_ttfb=Avg("messages__ttfb_ms", filter=replies),
                avg_tps=Avg("messages__tokens_per_s", filter=replies),
            )
            .order_by("-n_preferred", "-n_replies", "-avg_tps")
        )

    def get_ordering(self, request):
        # Best first: the changelist would otherwise sort by the model's Meta ordering (name).
        return ["-n_preferred", "-n_replies", "-avg_tps"]

    @admin.display(description="replies", ordering="n_replies")
    def replies(self, obj):
        return obj.n_replies

    @admin.display(description="preferred", ordering="n_preferred")
    def preferred_replies(self, obj):
        return obj.n_preferred

    @admin.display(description="mean TTFB (ms)", ordering="avg_ttfb")
    def mean_ttfb_ms(self, obj):
        return None if obj.avg_ttfb is None else round(obj.avg_ttfb)

    @admin.display(description="mean tokens/s", ordering="avg_tps")
    def mean_tokens_per_s(self, obj):
        return None if obj.avg_tps is None else round(obj.avg_tps, 1)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class AssistantForm(forms.ModelForm):
    """`tools` edited as checkboxes of the registry's tools (`ai_model.tools.tool_registry`)
    and a list of MCP tool names (`<server>__<tool>`, `<server>__*`); anything else is a
    form error."""

    builtin_tools = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Tools",
        help_text="Built-in tools and those of settings.TOOLS. Ignored with the chat strategy.")
    mcp_tools = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label="MCP tools",
        help_text="One per line: <server>__<tool>, or <server>__* for every tool of a server.")

    class Meta:
        model = Assistant
        exclude = ["tools"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.registry = tool_registry()
        self.fields["builtin_tools"].choices = [(name, f"{name}: {tool.description}") for name, tool in self.registry.items()]
        stored = list(self.instance.tools or []) if self.instance.pk else []
        self.initial.setdefault("builtin_tools", [n for n in stored if n in self.registry])
        self.initial.setdefault("mcp_tools", "\n".join(n for n in stored if n not in self.registry))

    def clean_mcp_tools(self):
        names = [line.strip() for line in self.cleaned_data["mcp_tools"].replace(",", "\n").splitlines() if line.strip()]
        wrong = [n for n in names if n not in self.registry and not MCP_TOOL_NAME.fullmatch(n)]
        if wrong:
            raise forms.ValidationError(
                f"Not a tool name: {', '.join(wrong)}. Use <server>__<tool> or <server>__* (letters, digits, _ - .).")
        return names

    def clean(self):
        data = super().clean()
        self.instance.tools = list(dict.fromkeys([*data.get("builtin_tools", []), *data.get("mcp_tools", [])]))
        return data


class AssistantGrantInline(admin.TabularInline):
    """Who may use the assistant: users and groups (none: everyone)."""

    model = AssistantGrant
    extra = 0
    raw_id_fields = ["user"]
    verbose_name = "given to"
    verbose_name_plural = "given to (none: every user)"


@admin.register(Assistant)
class AssistantAdmin(admin.ModelAdmin):
    """Assistants: an admin's are everyone's unless given to users or groups; users' private
    ones (`owner` set) are listed too."""

    form = AssistantForm
    list_display = ["name", "strategy", "model", "owner", "enabled", "updated_at"]
    list_filter = ["strategy", "enabled", ("owner", admin.EmptyFieldListFilter)]
    search_fields = ["name", "description", "owner__username"]
    list_select_related = ["model", "owner"]
    raw_id_fields = ["owner"]
    inlines = [AssistantGrantInline]
    fields = ["name", "description", "system_prompt", "model", "temperature", "max_tokens", "strategy",
              "builtin_tools", "mcp_tools", "owner", "enabled"]


@admin.register(AssistantLeaderboard)
class AssistantLeaderboardAdmin(admin.ModelAdmin):
    """Per assistant: replies (their first turns), those preferred by users, mean TTFB of the
    first turns and mean tokens/s of every turn, like the model leaderboard."""

    list_display = ["name", "strategy", "model", "replies", "preferred_replies", "mean_ttfb_ms", "mean_tokens_per_s"]
    list_select_related = ["model"]
    list_filter = ["strategy"]
    search_fields = ["name"]

    def get_queryset(self, request):
        turns = Q(messages__role="assistant", messages__status="complete")
        replies = turns & Q(messages__parent__role="user")  # a reply's first turn (tool rounds follow it)
        return (
            self.model._default_manager.get_queryset()  # (as ModelLeaderboardAdmin's)
            .annotate(
                n_replies=Count("messages", filter=replies),
                n_preferred=Count("messages", filter=replies & Q(messages__preferred=True)),
                avg_ttfb=Avg("messages__ttfb_ms", filter=replies),
                avg_tps=Avg("messages__tokens_per_s", filter=turns),
            )
            .order_by("-n_preferred", "-n_replies", "-avg_tps")
        )

    get_ordering = ModelLeaderboardAdmin.get_ordering
    replies = ModelLeaderboardAdmin.replies
    preferred_replies = ModelLeaderboardAdmin.preferred_replies
    mean_ttfb_ms = ModelLeaderboardAdmin.mean_ttfb_ms
    mean_tokens_per_s = ModelLeaderboardAdmin.mean_tokens_per_s

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# The MCP servers' page lives with the rest of the MCP code.
from ai_model.mcp import admin as _mcp_admin  # noqa: E402,F401
