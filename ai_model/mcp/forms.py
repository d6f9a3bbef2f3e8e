"""The admin form of an MCP server: its secrets (environment values, header values) are
write-only, like a provider's API key: the stored values are never put in the page, only
the names of those set; lines given change those names, the others are kept."""

from __future__ import annotations

import shlex

from django import forms

from ai_model.mcp.services import secret_lines_parse, secret_map_merge
from ai_model.models import AIModel, MCPServer


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never renders a value: not the stored one, nor what was just posted
    (a form shown again with errors does not echo the secrets typed into it)."""

    def format_value(self, value):
        return None


def _names_note(names: list[str], what: str) -> str:
    return f"Set (values hidden): {', '.join(sorted(names))}." if names else f"No {what} stored."


class MCPServerForm(forms.ModelForm):
    """`arguments` is the argument list as shell words; `env_changes` / `header_changes`
    are `KEY=value` / `Name: value` lines (an empty value removes that one); the clear
    boxes remove them all. `models`: the chat models that may use the server's tools."""

    url = forms.URLField(required=False, max_length=500, assume_scheme="https",
                         help_text="Streamable HTTP: the endpoint, e.g. http://127.0.0.1:8000/mcp.")
    arguments = forms.CharField(
        required=False, max_length=4000, widget=forms.TextInput(attrs={"size": 80}),
        help_text="stdio: the arguments, as shell words, e.g. <code>-m mcp_server_time --local-timezone Europe/Paris</code>. "
        "Put secrets in the environment, not here.")
    env_changes = forms.CharField(
        label="Environment", required=False, max_length=20_000,
        widget=WriteOnlyTextarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"}),
        help_text="Write-only.")
    clear_env = forms.BooleanField(required=False, label="Remove every stored variable")
    header_changes = forms.CharField(
        label="Headers", required=False, max_length=20_000,
        widget=WriteOnlyTextarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"}),
        help_text="Write-only.")
    clear_headers = forms.BooleanField(required=False, label="Remove every stored header")
    models = forms.ModelMultipleChoiceField(
        queryset=AIModel.objects.filter(purpose=AIModel.Purpose.CHAT).select_related("provider"), required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text="Chat models whose replies may call this server's tools (they also need “supports tools”).")

    class Meta:
        model = MCPServer
        fields = ["name", "enabled", "transport", "command", "arguments", "env_changes", "clear_env", "url",
                  "header_changes", "clear_headers", "timeout_s", "models"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        instance = self.instance
        self.fields["arguments"].initial = shlex.join(instance.args or []) if instance.pk else ""
        if instance.pk:
            self.fields["models"].initial = list(instance.models.values_list("pk", flat=True))
        self.fields["env_changes"].help_text = (
            "Write-only: <code>KEY=value</code> lines set variables, <code>KEY=</code> removes one; the others stay. "
            + _names_note(list(instance.env_dict()), "variables"))
        self.fields["header_changes"].help_text = (
            "Write-only: <code>Name: value</code> lines set headers (e.g. <code>Authorization: Bearer …</code>), "
            "<code>Name:</code> removes one; the others stay. " + _names_note(list(instance.headers_dict()), "headers"))

    def _secret(self, field: str, kind: str):
        try:
            return secret_lines_parse((self.cleaned_data.get(field) or "").splitlines(), kind=kind)
        except ValueError as exc:
            self.add_error(field, str(exc))
            return {}

    def clean(self):
        data = super().clean()
        try:
            self.instance.args = shlex.split(data.get("arguments") or "")
        except ValueError as exc:
            self.add_error("arguments", f"Not valid shell words: {exc}.")
        env = {} if data.get("clear_env") else self.instance.env_dict()
        self.instance.env = secret_map_merge(env, self._secret("env_changes", "env"))
        headers = {} if data.get("clear_headers") else self.instance.headers_dict()
        self.instance.headers = secret_map_merge(headers, self._secret("header_changes", "headers"))
        return data
