"""Reply generation: runs a provider stream, publishes SSE events, persists the reply.

A generation is an asyncio task owned by the worker process, kept in `_running`
(keyed by message id), not by the HTTP response that started it: the request only
follows the reply's `EventLog`, so a client that goes away does not stop the reply.
The stored text is written at most every `STREAM_PERSIST_INTERVAL_MS` and once at
the end, never per token.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from ai_model.models import AIModel
from ai_model.selectors import ai_model_chain
from ai_model.providers.registry import adapter_for
from ai_model.types import ChatMessage, ChatRequest, StreamError, TextDelta, ToolCall, Usage
from message.models import Message
from message.streaming.events import EventLog

logger = logging.getLogger(__name__)


@dataclass
class Generation:
    """A running (or just finished) reply: its event log and its task."""

    message_id: uuid.UUID
    log: EventLog
    task: asyncio.Task | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)


_running: dict[uuid.UUID, Generation] = {}


def generation_get(message_id: uuid.UUID) -> Generation | None:
    """The running generation of a message in this process, or None."""
    return _running.get(message_id)


def generation_start(
    *, reply: Message, ai_model: AIModel, context: list[ChatMessage], log: EventLog | None = None
) -> Generation:
    """Start generating `reply` (an assistant message, stored with status `streaming`).

    `log` may already hold events (the user's `message` event); the reply's own
    `message` event is appended here. Returns at once; the reply is written by a task.
    """
    log = log or EventLog(reply.id)
    log.append("message", _message_event(reply))
    generation = Generation(message_id=reply.id, log=log)
    _running[reply.id] = generation
    generation.task = asyncio.get_running_loop().create_task(
        _run(generation, reply=reply, ai_model=ai_model, context=context), name=f"generation:{reply.id}"
    )
    return generation


def _message_event(message: Message) -> dict:
    return {
        "id": str(message.id),
        "parent": str(message.parent_id) if message.parent_id else None,
        "role": message.role,
        "model": str(message.model_id) if message.model_id else None,
        "status": message.status,
    }


def user_message_event(message: Message) -> dict:
    """The `message` event payload for a stored user message."""
    return _message_event(message)


def _request_for(model: AIModel, context: list[ChatMessage]) -> ChatRequest:
    return ChatRequest(model=model.model_id, messages=context, temperature=model.temperature, max_tokens=model.max_tokens)


async def _run(generation: Generation, *, reply: Message, ai_model: AIModel, context: list[ChatMessage]) -> None:
    """Stream the reply from `ai_model`, falling back along its fallback list when a model
    fails before its first output; publish events and persist as described above."""
    log = generation.log
    mid = str(reply.id)
    interval = settings.STREAM_PERSIST_INTERVAL_MS / 1000
    parts: list[str] = []
    started = time.monotonic()
    last_flush = started
    ttfb_ms: int | None = None
    usage: Usage | None = None
    status = Message.Status.COMPLETE
    error: StreamError | None = None
    try:
        chain = await ai_model_chain(model=ai_model)
        for position, model in enumerate(chain):
            error, produced = None, False
            async for event in adapter_for(model.provider).stream(_request_for(model, context)):
                if isinstance(event, TextDelta):
                    produced = True
                    if ttfb_ms is None:
                        ttfb_ms = round((time.monotonic() - started) * 1000)
                    parts.append(event.text)
                    log.append("delta", {"message": mid, "text": event.text})
                    now = time.monotonic()
                    if now - last_flush >= interval:
                        await Message.objects.filter(pk=reply.pk).aupdate(content="".join(parts), updated_at=timezone.now())
                        last_flush = now
                elif isinstance(event, ToolCall):
                    produced = True
                    log.append("tool_call", {"message": mid, "id": event.id, "name": event.name, "arguments": event.arguments})
                elif isinstance(event, Usage):
                    usage = event
                elif isinstance(event, StreamError):
                    error = event
            if error is not None and not produced and position + 1 < len(chain):
                successor = chain[position + 1]
                log.append("fallback", {
                    "message": mid, "from_model": str(model.id), "to_model": str(successor.id),
                    "reason": f"{error.code}: {error.detail}",
                })
                await Message.objects.filter(pk=reply.pk).aupdate(model=successor, updated_at=timezone.now())
                continue
            break
        if error is not None:
            status = Message.Status.ERROR
    except asyncio.CancelledError:
        status = Message.Status.CANCELLED
        raise
    except Exception as exc:  # a bug here must still end the reply cleanly
        logger.exception("generation of %s failed", mid)
        status, error = Message.Status.ERROR, StreamError(code="internal_error", detail=f"{type(exc).__name__}")
    finally:
        duration_ms = round((time.monotonic() - started) * 1000)
        await _finish(
            reply, log, text="".join(parts), status=status, error=error, usage=usage, ttfb_ms=ttfb_ms, duration_ms=duration_ms
        )
        _running.pop(reply.id, None)
        generation.finished.set()


async def _finish(
    reply: Message,
    log: EventLog,
    *,
    text: str,
    status: str,
    error: StreamError | None,
    usage: Usage | None,
    ttfb_ms: int | None,
    duration_ms: int,
) -> None:
    """Store the final state (one UPDATE) and close the event log with usage, error, done."""
    fields = {
        "content": text,
        "status": status,
        "ttfb_ms": ttfb_ms,
        "duration_ms": duration_ms,
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "completion_tokens": usage.completion_tokens if usage else None,
        "error_code": error.code if error else "",
        "error_text": error.detail if error else "",
        "updated_at": timezone.now(),
    }
    try:
        # Shielded: a cancelled generation must still store what it has.
        await asyncio.shield(Message.objects.filter(pk=reply.pk).aupdate(**fields))
    except Exception:
        logger.exception("could not store reply %s", reply.pk)
    mid = str(reply.id)
    log.append(
        "usage",
        {
            "message": mid,
            "prompt_tokens": fields["prompt_tokens"],
            "completion_tokens": fields["completion_tokens"],
            "ttfb_ms": ttfb_ms,
            "duration_ms": duration_ms,
        },
    )
    if error is not None:
        log.append("error", {"message": mid, "code": error.code, "detail": error.detail})
    log.append("done", {"message": mid, "status": status})
