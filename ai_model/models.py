"""Providers (where a model runs), the models users can pick, MCP servers (tools) and
assistants (presets of a prompt, a model and tools)."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from core.encryption import EncryptedTextField


class Provider(models.Model):
    """An upstream that serves models: a cloud API, a local server, or the embedded model.

    `api_key` is write-only: no serializer, admin page or log renders it. It is stored
    encrypted (core/encryption.py: Fernet with FIELD_ENCRYPTION_KEYS) and read as plaintext.
    Timeouts are seconds.
    """

    class Kind(models.TextChoices):
        OPENAI = "openai", "OpenAI"
        ANTHROPIC = "anthropic", "Anthropic"
        GEMINI = "gemini", "Google Gemini"
        OLLAMA = "ollama", "Ollama"
        LLAMACPP = "llamacpp", "llama.cpp server"
        OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible"
        LOCAL = "local", "Embedded local model"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    base_url = models.URLField(max_length=500, blank=True, help_text="e.g. https://api.openai.com/v1")
    api_key = EncryptedTextField(blank=True)
    enabled = models.BooleanField(default=True)
    connect_timeout_s = models.FloatField(default=5.0)
    first_token_timeout_s = models.FloatField(default=120.0)
    read_timeout_s = models.FloatField(default=60.0, help_text="Longest gap between two chunks.")
    discovered_as = models.CharField(
        max_length=600, blank=True, editable=False,
        help_text="The local runtime this provider was registered for (`kind url`, LOCAL_RUNTIMES); empty: added by hand.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # One provider per discovered runtime, whatever number of workers discover it at once.
            models.UniqueConstraint(fields=["discovered_as"], condition=~models.Q(discovered_as=""),
                                    name="unique_discovered_runtime"),
        ]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        # Never include api_key.
        return f"<Provider {self.name!r} kind={self.kind}>"


class AIModel(models.Model):
    """A model as users pick it; `model_id` is the name the provider knows it by.

    `purpose` says what it serves: chat completions (listed in `/api/models`), speech to
    text (a remote engine for `/api/audio/transcriptions`) or text to speech.

    `available` is False when its provider no longer listed it, or did not answer, at the
    last discovery of local runtimes (`ai_model.discovery`): it is kept (never deleted), shown
    unavailable in `/api/models`, and skipped as a session's default. `discovered_at` is when
    discovery added it (None: added by hand), `last_seen_at` when a discovery last saw it listed.

    The reasoning fields say how the adapters ask for reasoning and whether users see it.
    """

    class Purpose(models.TextChoices):
        CHAT = "chat", "Chat"
        TRANSCRIPTION = "transcription", "Speech to text"
        SPEECH = "speech", "Text to speech"

    class ReasoningEffort(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="models")
    model_id = models.CharField(max_length=200)
    display_name = models.CharField(max_length=200)
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.CHAT)
    enabled = models.BooleanField(default=True)
    is_default = models.BooleanField(
        default=False, help_text="The model a new chat uses when none is picked (at most one model).")
    available = models.BooleanField(
        default=True, help_text="Listed by its provider at the last discovery of local runtimes.")
    discovered_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_seen_at = models.DateTimeField(null=True, blank=True, editable=False)
    supports_tools = models.BooleanField(default=False)
    supports_vision = models.BooleanField(
        default=False, help_text="Reads images: attached images are sent to it (README \"Attachments\"). Without it, "
        "a message with an image goes to the first vision model of the fallback list, or is refused.")
    temperature = models.FloatField(null=True, blank=True)
    max_tokens = models.PositiveIntegerField(null=True, blank=True)
    context_window = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Tokens the model reads at most (prompt and reply); empty: MODEL_CONTEXT_TOKENS. "
        "Older turns of a conversation are left out of the prompt to fit.",
    )
    # Reasoning (README "Reasoning"): what the adapters send, and whether users see it.
    supports_reasoning = models.BooleanField(
        default=False, help_text="A reasoning (thinking) model: Gemini is asked for its thoughts, Ollama for `think`, "
        "Anthropic gets a thinking budget. `GET /api/models` shows capabilities.reasoning.")
    reasoning_effort = models.CharField(
        max_length=8, blank=True, choices=ReasoningEffort.choices,
        help_text="OpenAI-compatible `reasoning_effort`, Ollama `think`; for Anthropic and Gemini a budget "
        "of 1024 / 4096 / 16384 tokens when no budget is set.")
    thinking_budget_tokens = models.PositiveIntegerField(
        null=True, blank=True, help_text="Anthropic `thinking.budget_tokens` (at least 1024), Gemini `thinkingBudget`.")
    show_reasoning = models.BooleanField(
        default=True, help_text="Users see the model's reasoning (SSE, WebSocket, REST). Off: it is still stored, "
        "and admins see it in admin.")
    # Prices per million tokens, in the currency of the deployment (the budgets use it too).
    input_price = models.DecimalField(
        max_digits=12, decimal_places=6, default=0, help_text="Price per million prompt (input) tokens.")
    output_price = models.DecimalField(
        max_digits=12, decimal_places=6, default=0, help_text="Price per million completion (output) tokens.")
    fallback_models = models.ManyToManyField(
        "self", through="ModelFallback", symmetrical=False, related_name="+", blank=True
    )
    mcp_servers = models.ManyToManyField(
        "MCPServer", related_name="models", blank=True,
        help_text="MCP servers whose tools replies of this model may call (with supports_tools; all of each "
        "server's tools, named `<server>__<tool>`). The built-in tools are offered either way.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_name"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "model_id"], name="unique_model_per_provider"),
            models.UniqueConstraint(fields=["is_default"], condition=models.Q(is_default=True), name="one_default_model"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def reasons(self) -> bool:
        """Whether the model is configured for reasoning (a flag, an effort or a budget)."""
        return bool(self.supports_reasoning or self.reasoning_effort or self.thinking_budget_tokens)

    @property
    def context_budget(self) -> int:
        """Tokens a prompt may take: the context window less the reply's `max_tokens`
        (`REPLY_TOKENS_RESERVE` when unset), at least a quarter of the window."""
        window = self.context_window or settings.MODEL_CONTEXT_TOKENS
        return max(window // 4, window - (self.max_tokens or settings.REPLY_TOKENS_RESERVE))


def reply_cost(model: AIModel | None, prompt_tokens: int | None, completion_tokens: int | None) -> Decimal:
    """The cost of one model call: tokens times the model's prices per million tokens
    (a Decimal with 8 places; 0 for a model without prices or a call without usage)."""
    if model is None:
        return Decimal(0)
    cost = (Decimal(prompt_tokens or 0) * model.input_price + Decimal(completion_tokens or 0) * model.output_price)
    return (cost / 1_000_000).quantize(COST_QUANTUM)


#: Costs are kept to 8 decimal places (a token of a model priced 0.01 per million is 1e-8).
COST_QUANTUM = Decimal("0.00000001")


class ModelFallback(models.Model):
    """One entry of a model's ordered fallback list."""

    model = models.ForeignKey(AIModel, on_delete=models.CASCADE, related_name="fallback_entries")
    fallback = models.ForeignKey(AIModel, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["model", "fallback"], name="unique_fallback"),
        ]

    def __str__(self) -> str:
        return f"{self.model} → {self.fallback} (#{self.position})"


class ModelLeaderboard(AIModel):
    """Admin view of models ranked by how often users preferred their replies."""

    class Meta:
        proxy = True
        verbose_name = "model leaderboard entry"
        verbose_name_plural = "model leaderboard"


#: An MCP server's name prefixes its tools' names (`<name>__<tool>`), which providers limit to
#: `^[a-zA-Z0-9_-]{1,64}$` (Gemini: starting with a letter): a letter first, no `__` inside.
MCP_SERVER_NAME_MAX = 24
mcp_server_name_validator = RegexValidator(
    r"^(?!.*__)[A-Za-z][A-Za-z0-9_-]*$",
    "A letter, then letters, digits, '-' or '_' (no '__'): it prefixes the names of the server's tools.",
)


class MCPServer(models.Model):
    """An MCP server whose tools models may call (`ai_model/mcp/`): a command run over stdio
    (`command`, `args`, `env`) or a Streamable HTTP endpoint (`url`, `headers`).

    `env` and `headers` are secrets: JSON objects of strings stored encrypted (like
    `Provider.api_key`), write-only in admin, never printed (`env_dict()`, `headers_dict()`
    read them). `timeout_s` bounds each tool call (empty: MCP_TOOL_TIMEOUT_S). The status
    fields are the last check or connection of any worker (written with `update()`, so
    `updated_at` moves only when an admin edits the server): `status`, `status_detail`,
    `checked_at` and `tools`, the listing `[{"name", "description", "input_schema"}]`.
    """

    class Transport(models.TextChoices):
        STDIO = "stdio", "stdio (a command this server runs)"
        HTTP = "http", "Streamable HTTP (a URL)"

    class Status(models.TextChoices):
        UNKNOWN = "unknown", "not checked yet"
        OK = "ok", "answering"
        ERROR = "error", "failing"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(
        max_length=MCP_SERVER_NAME_MAX, unique=True, validators=[mcp_server_name_validator],
        help_text="Prefixes its tools' names as the models see them, e.g. `time` gives `time__get_current_time`.")
    transport = models.CharField(max_length=8, choices=Transport.choices, default=Transport.STDIO)
    command = models.CharField(max_length=500, blank=True, help_text="stdio: the program, e.g. /usr/bin/python3.")
    args = models.JSONField(default=list, blank=True, help_text="stdio: its arguments, a list of strings.")
    env = EncryptedTextField(blank=True, help_text="stdio: extra environment variables (a JSON object; secret).")
    url = models.URLField(max_length=500, blank=True, help_text="Streamable HTTP: the endpoint, e.g. http://127.0.0.1:8000/mcp.")
    headers = EncryptedTextField(blank=True, help_text="Streamable HTTP: request headers (a JSON object; secret).")
    enabled = models.BooleanField(default=True)
    timeout_s = models.FloatField(
        null=True, blank=True, help_text="Longest a tool call may take, in seconds; empty: MCP_TOOL_TIMEOUT_S.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.UNKNOWN, editable=False)
    status_detail = models.TextField(blank=True, editable=False)
    checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    tools = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "MCP server"

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        # Never include env or headers.
        return f"<MCPServer {self.name!r} {self.transport}>"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.transport == self.Transport.STDIO and not self.command.strip():
            raise ValidationError({"command": "A stdio server needs the command to run."})
        if self.transport == self.Transport.HTTP and not self.url:
            raise ValidationError({"url": "A Streamable HTTP server needs its URL."})
        if not isinstance(self.args, list) or not all(isinstance(a, str) for a in self.args):
            raise ValidationError({"args": "A list of strings."})
        if self.timeout_s is not None and not 0 < self.timeout_s <= 3600:
            raise ValidationError({"timeout_s": "Between 0 and 3600 seconds."})

    def env_dict(self) -> dict[str, str]:
        """The extra environment variables (decrypted); {} when none or unreadable."""
        return _string_map(self.env)

    def headers_dict(self) -> dict[str, str]:
        """The request headers (decrypted); {} when none or unreadable."""
        return _string_map(self.headers)


def _string_map(text: str) -> dict[str, str]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


class Assistant(models.Model):
    """A preset users pick instead of a bare model: a system prompt, a model (its fallback
    list applies), sampling settings, the tools it may call and how it uses them.

    Who may use it: an admin's assistant (`owner` empty) without grants is everyone's; with
    grants (`AssistantGrant`), only the granted users and the members of the granted groups.
    A user's private assistant (`owner` set, made through `/api/assistants` when
    `ASSISTANTS_USER_CREATED` is on) is its owner's alone; grants do not apply to it.

    `tools` lists tool names: built-in ones (`ai_model.tools.tool_registry`) and MCP tools as
    `<server>__<tool>`, or `<server>__*` for every tool of a server (`tools_allowed`).
    `strategy`: `chat` offers no tools, `tools` the usual tool loop, `plan` a numbered plan
    first (`message.generation.plan`).
    """

    class Strategy(models.TextChoices):
        CHAT = "chat", "Chat (no tools)"
        TOOLS = "tools", "Tools (call tools as needed)"
        PLAN = "plan", "Plan (a numbered plan, then each step with tools)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, max_length=2000)
    system_prompt = models.TextField(blank=True, help_text="Sent first, before the conversation, with every reply.")
    model = models.ForeignKey(
        AIModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="assistants",
        limit_choices_to={"purpose": AIModel.Purpose.CHAT},
        help_text="Empty: the session's model. The model's own fallback list applies.",
    )
    temperature = models.FloatField(null=True, blank=True, help_text="Empty: the model's.")
    max_tokens = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: the model's.")
    tools = models.JSONField(
        default=list, blank=True,
        help_text="Tool names it may call: built-in ones, and MCP tools as <server>__<tool> (<server>__* for all of a server's).",
    )
    strategy = models.CharField(max_length=8, choices=Strategy.choices, default=Strategy.TOOLS)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="assistants",
        help_text="Set: a user's private assistant (only they see it). Empty: an admin's.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["owner", "name"], name="assistant_owner_name")]

    def __str__(self) -> str:
        return self.name


class AssistantGrant(models.Model):
    """Gives an admin's assistant to one user or one group (exactly one of the two is set);
    an assistant with no grant is everyone's."""

    assistant = models.ForeignKey(Assistant, on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="assistant_grants")
    group = models.ForeignKey("auth.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="assistant_grants")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True) | models.Q(user__isnull=True, group__isnull=False),
                name="assistant_grant_user_xor_group",
            ),
            models.UniqueConstraint(fields=["assistant", "user"], name="assistant_grant_unique_user"),
            models.UniqueConstraint(fields=["assistant", "group"], name="assistant_grant_unique_group"),
        ]

    def __str__(self) -> str:
        return f"{self.assistant} for {self.user or self.group}"


class AssistantLeaderboard(Assistant):
    """Admin view of assistants ranked by how often users preferred their replies."""

    class Meta:
        proxy = True
        verbose_name = "assistant leaderboard entry"
        verbose_name_plural = "assistant leaderboard"
