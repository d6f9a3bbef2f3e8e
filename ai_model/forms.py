"""The first-run page's cloud provider form (`ai_model.views.setup_provider_view`)."""

from __future__ import annotations

from django import forms

from ai_model.models import Provider
from ai_model.services import CLOUD_DEFAULTS


class CloudProviderForm(forms.Form):
    """A cloud provider's kind and API key; both checked again by `cloud_provider_create`."""

    kind = forms.ChoiceField(
        label="Provider",
        choices=[(kind, Provider.Kind(kind).label) for kind in CLOUD_DEFAULTS],
        help_text="Its current models are added: " + "; ".join(
            f"{Provider.Kind(kind).label}: {', '.join(model_id for model_id, _ in models)}"
            for kind, (_, models) in CLOUD_DEFAULTS.items()) + ".",
    )
    api_key = forms.CharField(
        label="API key", max_length=500, strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted, shown nowhere. Change it later in /admin/.",
    )
