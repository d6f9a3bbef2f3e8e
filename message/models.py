"""Messages: the nodes of a session's conversation tree."""

from __future__ import annotations

import uuid

from django.db import models


class Message(models.Model):
    """One turn. `parent` links it into the session's tree; regenerating adds a sibling.

    For assistant replies `status` follows streaming → complete | error |
    cancelled | interrupted; `content` holds the text so far while streaming, and
    `updated_at` is the generating worker's heartbeat. Times are milliseconds.
    A tool round is stored as a chain: assistant (with `tool_calls`) → one `tool`
    message per result → the next assistant turn.
    """

    class Role(models.TextChoices):
        SYSTEM = "system"
        USER = "user"
        ASSISTANT = "assistant"
        TOOL = "tool"

    class Status(models.TextChoices):
        STREAMING = "streaming"
        COMPLETE = "complete"
        ERROR = "error"
        CANCELLED = "cancelled"
        INTERRUPTED = "interrupted"

    FINAL_STATUSES = (Status.COMPLETE, Status.ERROR, Status.CANCELLED, Status.INTERRUPTED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey("chat_session.ChatSession", on_delete=models.CASCADE, related_name="messages")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    # The model's reasoning (thinking), kept apart from the answer; `reasoning_hidden` when the
    # model's `show_reasoning` was off: stored, shown in admin, never sent to users.
    reasoning = models.TextField(blank=True)
    reasoning_hidden = models.BooleanField(default=False)
    # Provider blocks sent back with this turn on the next one (Anthropic's signed thinking).
    reasoning_blocks = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE, db_index=True)
    model = models.ForeignKey(
        "ai_model.AIModel", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    # The assistant (`ai_model.Assistant`) the reply was made with, if any.
    assistant = models.ForeignKey(
        "ai_model.Assistant", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    # The steps of a `plan` assistant's plan, as its `plan` event announced them (the latest, once revised).
    plan = models.JSONField(null=True, blank=True)
    # Why the model stopped, in OpenAI's terms: stop | length | tool_calls | content_filter;
    # blank while streaming, after a cancel or an error, or when the provider did not say.
    finish_reason = models.CharField(max_length=16, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_text = models.TextField(blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    # Completion tokens spent reasoning, as the provider reported them (or reasoning deltas counted).
    reasoning_tokens = models.PositiveIntegerField(null=True, blank=True)
    ttfb_ms = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # What the call cost: tokens times the model's prices (ai_model.models.reply_cost).
    cost = models.DecimalField(max_digits=16, decimal_places=8, null=True, blank=True)
    # Completion tokens per second after the first token: completion_tokens / (duration - TTFB).
    tokens_per_s = models.FloatField(null=True, blank=True)
    # The user's pick among sibling replies (model comparison).
    preferred = models.BooleanField(default=False)
    # An assistant turn that asked for tools: [{"id", "name", "arguments"}].
    tool_calls = models.JSONField(default=list, blank=True)
    # A tool result (role `tool`): which call it answers, the tool's name, whether it failed.
    tool_call_id = models.CharField(max_length=200, blank=True)
    tool_name = models.CharField(max_length=200, blank=True)
    is_error = models.BooleanField(default=False)
    # Files attached to a user turn, in the order the user gave them.
    attachments = models.ManyToManyField("files.StoredFile", through="MessageAttachment", related_name="messages", blank=True)
    # What the attachments add to the turn in a context's character budget (documents' text as
    # placed, `ai_model.types.IMAGE_CONTEXT_CHARS` an image): the context read trims by it.
    attachment_chars = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["session", "created_at"], name="message_session_created")]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"


class MessageAttachment(models.Model):
    """A file attached to a message, at `position`; for a document, `included_chars` of its
    text go into the context (all of it unless it did not fit the model's budget when the
    message was sent; the same cut is used for every later turn, so replays, regenerations
    and branches see what the first reply saw)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachment_links")
    file = models.ForeignKey("files.StoredFile", on_delete=models.CASCADE, related_name="message_links")
    position = models.PositiveSmallIntegerField(default=0)
    included_chars = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["message", "file"], name="attachment_unique_per_message")]


class UsageReport(Message):
    """Admin's report of tokens and cost per user and model (message/admin.py)."""

    class Meta:
        proxy = True
        verbose_name = verbose_name_plural = "usage report"
