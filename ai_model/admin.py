from django import forms
from django.contrib import admin

from ai_model.models import AIModel, ModelFallback, Provider


class ProviderForm(forms.ModelForm):
    """The API key is write-only: the field is never filled from the stored value,
    and leaving it empty keeps the stored key."""

    base_url = forms.URLField(required=False, max_length=500, assume_scheme="https",
                              help_text="e.g. https://api.openai.com/v1")
    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only. Leave empty to keep the stored key.",
    )
    clear_api_key = forms.BooleanField(required=False, help_text="Remove the stored key.")

    class Meta:
        model = Provider
        fields = "__all__"

    def clean(self):
        data = super().clean()
        if data.get("clear_api_key"):
            data["api_key"] = ""
        elif not data.get("api_key") and self.instance.pk:
            data["api_key"] = self.instance.api_key
        return data


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = ["name", "kind", "base_url", "enabled", "has_api_key", "first_token_timeout_s"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name", "base_url"]

    @admin.display(boolean=True, description="API key set")
    def has_api_key(self, obj):
        return bool(obj.api_key)


class ModelFallbackInline(admin.TabularInline):
    model = ModelFallback
    fk_name = "model"
    extra = 0
    ordering = ["position"]


@admin.register(AIModel)
class AIModelAdmin(admin.ModelAdmin):
    list_display = ["display_name", "model_id", "provider", "enabled", "supports_streaming", "supports_tools"]
    list_filter = ["enabled", "provider__kind", "provider", "supports_tools"]
    search_fields = ["display_name", "model_id", "provider__name"]
    list_select_related = ["provider"]
    inlines = [ModelFallbackInline]
