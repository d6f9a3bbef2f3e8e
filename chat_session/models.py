"""A conversation: its owner, title, default model and assistant; its messages form a tree."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class ChatSession(models.Model):
    """One chat. `title_set_by_user` protects a user's title from automatic titles; a `hidden`
    session only accounts for usage (see the field)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_sessions")
    title = models.CharField(max_length=200, blank=True)
    title_set_by_user = models.BooleanField(default=False)
    default_model = models.ForeignKey(
        "ai_model.AIModel", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The assistant a send uses when it names none (`message.services.message_send`).
    default_assistant = models.ForeignKey(
        "ai_model.Assistant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The branch shown: the leaf the next message continues from by default.
    active_leaf = models.ForeignKey(
        "message.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A user's accounting session: the token and cost rows of `/v1/chat/completions` replies
    # with `"store": false` (no content). Never listed, never read by the session endpoints.
    hidden = models.BooleanField(default=False)
    # Per-chat settings of the next replies: a system prompt sent after the assistant's (if
    # any), and a temperature over the assistant's and the model's (a client's own wins).
    system_prompt = models.TextField(blank=True, max_length=8000)
    temperature = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["owner", "-updated_at"], name="session_owner_recent")]

    def __str__(self) -> str:
        return self.title or f"Session {str(self.id)[:8]}"
