"""Reply generation: runs provider streams and tools, publishes events, persists the reply.

A generation is an asyncio task owned by the worker process, kept in a registry keyed
by every message id it creates, not by the HTTP response or socket that started it:
clients only follow the reply's event log (`events.py`), so a client that goes away
does not stop the reply. Per turn:

1. stream the model (falling back along its fallback list while nothing was produced),
   merging deltas that arrive within `STREAM_COALESCE_MS`; the stored text is written at
   most every `STREAM_PERSIST_INTERVAL_MS` and once at the end, never per token;
2. if the model asked for tools, store its turn with the calls, run the calls
   concurrently (each result streamed and stored as a `tool` message the moment it
   finishes), start the next assistant turn under the last result and go to 1, at most
   `TOOL_MAX_ROUNDS` times (the last round offers no tools, so the model must answer).

Events also go to the session's channel-layer group for WebSocket clients. A
process-wide heartbeat touches `updated_at` of every generating message, so a message
left `streaming` by a dead worker can be told apart (`message_recover_stale`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

from ai_model.models import AIModel
from ai_model.providers.registry import adapter_for
from ai_model.selectors import ai_model_chain
from ai_model.tools import tool_registry, tools_run_concurrently
from ai_model.types import ChatMessage, ChatRequest, StreamError, TextDelta, ToolCall, Usage
from chat_session.models import ChatSession
from chat_session.realtime import session_group
from chat_session.titles import title_schedule
from core.redis import redis_client, redis_enabled
from message.models import Message
from message.serializers import message_to_dict
from message.streaming.coalesce import Coalescer
from message.streaming.events import EventLog, event_log_create

logger = logging.getLogger(__name__)

CANCEL_CHANNEL = "chat:cancel"


def message_event(message: Message) -> dict[str, Any]:
    """The SSE `message` event payload (API.md)."""
    return {
        "id": str(message.id),
        "parent": str(message.parent_id) if message.parent_id else None,
        "role": message.role,
        "model": str(message.model_id) if message.model_id else None,
        "status": message.status,
    }


class Publisher:
    """Sends a reply's events to its log (SSE readers) and to the session's WebSocket group."""

    def __init__(self, log: EventLog, session_id: uuid.UUID) -> None:
        self.log = log
        self.group = session_group(session_id)
        self.layer = get_channel_layer()

    async def emit(self, event: str, data: dict[str, Any]) -> None:
        await self.log.append(event, data)
        if event == "delta":
            await self._group_send({"type": "message.stream", "message": data["message"], "delta": data["text"]})

    async def message(self, message: Message) -> None:
        """A message was created: SSE `message` event and WebSocket `message_update`."""
        await self.emit("message", message_event(message))
        await self.message_update(message)

    async def message_update(self, message: Message) -> None:
        await self._group_send({"type": "message.update", "message": message_to_dict(message)})

    async def _group_send(self, payload: dict[str, Any]) -> None:
        if self.layer is None:
            return
        try:
            await self.layer.group_send(self.group, payload)
        except Exception:  # a broken channel layer must not break the reply
            logger.exception("channel layer send failed")


@dataclass
class Generation:
    """A running (or just finished) reply: its log, its task and the messages it made."""

    message_id: uuid.UUID
    session_id: uuid.UUID
    log: EventLog
    publisher: Publisher
    task: asyncio.Task | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    message_ids: list[uuid.UUID] = field(default_factory=list)
    #: Status stored when the task is cancelled: `cancelled` (user) or `interrupted` (shutdown).
    stop_status: str = Message.Status.CANCELLED
    #: The turn being streamed, so a cancelled task still stores what arrived.
    turn: Turn | None = None

    @property
    def current_id(self) -> uuid.UUID:
        return self.message_ids[-1]

    def stop(self, status: str = Message.Status.CANCELLED) -> None:
        """Cancel the task; the reply is stored with `status` and the text so far."""
        if self.task is not None and not self.task.done():
            self.stop_status = status
            self.task.cancel()


_running: dict[uuid.UUID, Generation] = {}
_background: dict[str, asyncio.Task] = {}


def generation_get(message_id: uuid.UUID) -> Generation | None:
    """The generation that made (or is making) a message in this process, or None."""
    return _running.get(message_id)


def generations_running() -> list[Generation]:
    return list({id(g): g for g in _running.values()}.values())


def running_message_ids() -> list[uuid.UUID]:
    """Ids of the messages generating right now in this process."""
    return [g.current_id for g in generations_running()]


async def generation_start(
    *,
    reply: Message,
    ai_model: AIModel,
    context: list[ChatMessage],
    before: Iterable[Message] = (),
    log: EventLog | None = None,
) -> Generation:
    """Start generating `reply` (an assistant message stored with status `streaming`).

    `before` are messages announced first in the log (the user's new message). Returns
    once the `message` events are logged; the reply is written by a background task.
    """
    log = log or event_log_create(reply.id)
    publisher = Publisher(log, reply.session_id)
    for message in before:
        await publisher.message(message)
    await publisher.message(reply)
    generation = Generation(message_id=reply.id, session_id=reply.session_id, log=log, publisher=publisher)
    _register(generation, reply.id)
    generation.task = asyncio.get_running_loop().create_task(
        _run(generation, reply=reply, ai_model=ai_model, context=context), name=f"generation:{reply.id}"
    )
    _ensure_background()
    return generation


def _register(generation: Generation, message_id: uuid.UUID) -> None:
    generation.message_ids.append(message_id)
    _running[message_id] = generation


def _ensure_background() -> None:
    """Start the heartbeat (and the Redis cancel listener) once per event loop."""
    for name, factory in (("heartbeat", _heartbeat), ("cancel", _cancel_listener)):
        task = _background.get(name)
        if name == "cancel" and not redis_enabled():
            continue
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            _background[name] = asyncio.get_running_loop().create_task(factory(), name=f"generation-{name}")


async def _heartbeat() -> None:
    while True:
        await asyncio.sleep(settings.GENERATION_HEARTBEAT_S)
        ids = running_message_ids()
        if ids:
            try:
                await Message.objects.filter(pk__in=ids, status=Message.Status.STREAMING).aupdate(updated_at=timezone.now())
            except Exception:
                logger.exception("heartbeat failed")


async def _cancel_listener() -> None:
    """Cancel requests published by other workers (Redis pub/sub)."""
    while True:
        try:
            pubsub = redis_client().pubsub()
            await pubsub.subscribe(CANCEL_CHANNEL)
            async for item in pubsub.listen():
                if item.get("type") != "message":
                    continue
                generation = _running.get(uuid.UUID(item["data"].decode()))
                if generation is not None:
                    generation.stop()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("cancel listener failed; retrying")
            await asyncio.sleep(1)


async def generation_cancel(message_id: uuid.UUID) -> bool:
    """Ask the generation of `message_id` to stop, here or (with Redis) on any worker.

    Returns True when this process stopped it, False when the request was only published.
    """
    generation = _running.get(message_id)
    if generation is not None:
        generation.stop()
        return True
    if redis_enabled():
        await redis_client().publish(CANCEL_CHANNEL, str(message_id))
    return False


async def generations_drain(*, grace_s: float) -> None:
    """Graceful shutdown: let running replies finish for `grace_s`, then store the rest
    as `interrupted` with their text."""
    tasks = [g.task for g in generations_running() if g.task is not None and not g.task.done()]
    if tasks:
        logger.info("waiting up to %.0f s for %d running replies", grace_s, len(tasks))
        await asyncio.wait(tasks, timeout=grace_s)
    for generation in generations_running():
        generation.stop(Message.Status.INTERRUPTED)
    remaining = [t for t in tasks if not t.done()]
    if remaining:
        await asyncio.wait(remaining, timeout=10)
    for task in _background.values():
        task.cancel()


# --- the generation task ---------------------------------------------------------------------

@dataclass
class Turn:
    """What one model call produced. Text is kept as its deltas and joined only when
    stored (every persist interval and at the end), never per token."""

    parts: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = None
    error: StreamError | None = None
    ttfb_ms: int | None = None
    raw_deltas: int = 0

    @property
    def text(self) -> str:
        return "".join(self.parts)


def _request(model: AIModel, context: list[ChatMessage], *, tools: bool) -> ChatRequest:
    specs = [t.spec for t in tool_registry().values()] if tools and model.supports_tools else []
    return ChatRequest(
        model=model.model_id, messages=context, temperature=model.temperature, max_tokens=model.max_tokens, tools=specs
    )


async def _run(generation: Generation, *, reply: Message, ai_model: AIModel, context: list[ChatMessage]) -> None:
    current = reply
    started = time.monotonic()
    status = Message.Status.COMPLETE
    try:
        chain = await ai_model_chain(model=ai_model)
        position = 0
        rounds = 0
        while True:
            offer_tools = rounds < settings.TOOL_MAX_ROUNDS
            turn, position = await _stream_turn(generation, current, chain, position, context, tools=offer_tools, started=started)
            if turn.error is not None or not turn.tool_calls or not offer_tools:
                break
            rounds += 1
            current, context = await _run_tools(generation, current, chain[position], turn, context, started)
            started = time.monotonic()
        if turn.error is not None:
            status = Message.Status.ERROR
    except asyncio.CancelledError:
        status = generation.stop_status
        raise
    except Exception as exc:  # a bug here must still end the reply cleanly
        logger.exception("generation of %s failed", current.id)
        status = Message.Status.ERROR
        generation.turn = generation.turn or Turn()
        generation.turn.error = StreamError(code="internal_error", detail=f"{type(exc).__name__}")
    finally:
        # Shielded: a cancelled generation must still store what it has and close its log.
        await asyncio.shield(_finish(generation, current, status=status, started=started))
        for message_id in generation.message_ids:
            _running.pop(message_id, None)
        generation.finished.set()


async def _stream_turn(
    generation: Generation,
    message: Message,
    chain: list[AIModel],
    position: int,
    context: list[ChatMessage],
    *,
    tools: bool,
    started: float,
) -> tuple[Turn, int]:
    """One model call into `message`, with fallback; returns the turn and the model used."""
    publisher = generation.publisher
    mid = str(message.id)
    interval = settings.STREAM_PERSIST_INTERVAL_MS / 1000
    turn = generation.turn = Turn()
    last_flush = time.monotonic()
    while True:
        model = chain[position]
        produced = False
        turn.error = None
        events = Coalescer(adapter_for(model.provider).stream(_request(model, context, tools=tools)),
                           settings.STREAM_COALESCE_MS / 1000)
        async for event in events:
            turn.raw_deltas = events.raw_deltas
            if isinstance(event, TextDelta):
                produced = True
                if turn.ttfb_ms is None:
                    turn.ttfb_ms = round((time.monotonic() - started) * 1000)
                turn.parts.append(event.text)
                await publisher.emit("delta", {"message": mid, "text": event.text})
                now = time.monotonic()
                if now - last_flush >= interval:
                    await Message.objects.filter(pk=message.pk).aupdate(content=turn.text, updated_at=timezone.now())
                    last_flush = now
            elif isinstance(event, ToolCall):
                produced = True
                turn.tool_calls.append(event)
                await publisher.emit(
                    "tool_call", {"message": mid, "id": event.id, "name": event.name, "arguments": event.arguments}
                )
            elif isinstance(event, Usage):
                turn.usage = event
            elif isinstance(event, StreamError):
                turn.error = event
        if turn.error is not None and not produced and position + 1 < len(chain):
            successor = chain[position + 1]
            await publisher.emit("fallback", {
                "message": mid, "from_model": str(model.id), "to_model": str(successor.id),
                "reason": f"{turn.error.code}: {turn.error.detail}",
            })
            await Message.objects.filter(pk=message.pk).aupdate(model=successor, updated_at=timezone.now())
            message.model = successor
            position += 1
            continue
        return turn, position


async def _run_tools(
    generation: Generation, message: Message, model: AIModel, turn: Turn, context: list[ChatMessage], started: float
) -> tuple[Message, list[ChatMessage]]:
    """Store the turn that asked for tools, run the calls concurrently, store each result
    as it finishes, and create the next assistant turn. Returns it and the new context."""
    publisher = generation.publisher
    calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in turn.tool_calls]
    message.tool_calls = calls
    await _store_final(message, turn, status=Message.Status.COMPLETE, started=started)
    await _emit_usage(publisher, message)
    await publisher.message_update(message)
    context = [*context, ChatMessage("assistant", turn.text, tool_calls=tuple(turn.tool_calls))]
    parent = message
    async for result in tools_run_concurrently(turn.tool_calls, tool_registry()):
        tool_message = await Message.objects.acreate(
            session_id=message.session_id, parent=parent, role=Message.Role.TOOL, content=result.content,
            status=Message.Status.COMPLETE, tool_call_id=result.call.id, tool_name=result.call.name,
            is_error=result.is_error,
        )
        _register(generation, tool_message.id)
        await publisher.emit("tool_result", {
            "message": str(tool_message.id), "tool_call_id": result.call.id, "content": result.content,
            "is_error": result.is_error,
        })
        await publisher.message_update(tool_message)
        context.append(ChatMessage("tool", result.content, tool_call_id=result.call.id, name=result.call.name,
                                   is_error=result.is_error))
        parent = tool_message
    following = await Message.objects.acreate(
        session_id=message.session_id, parent=parent, role=Message.Role.ASSISTANT, content="",
        status=Message.Status.STREAMING, model=model,
    )
    _register(generation, following.id)
    await publisher.message(following)
    return following, context


def tokens_per_second(completion_tokens: int | None, ttfb_ms: int | None, duration_ms: int | None) -> float | None:
    """Decode speed: completion tokens over the time after the first token (None if unknown)."""
    if not completion_tokens or ttfb_ms is None or duration_ms is None or duration_ms <= ttfb_ms:
        return None
    return round(completion_tokens / ((duration_ms - ttfb_ms) / 1000), 2)


async def _store_final(message: Message, turn: Turn, *, status: str, started: float) -> None:
    """One UPDATE with the final state of a turn's message."""
    completion = turn.usage.completion_tokens if turn.usage and turn.usage.completion_tokens is not None else None
    if completion is None and turn.raw_deltas:
        # No usage reported (a stopped stream, or a provider without usage): streamed
        # deltas are about one token each.
        completion = turn.raw_deltas
    error = turn.error
    if error is None and status == Message.Status.INTERRUPTED:
        error = StreamError("interrupted", "The server stopped while this reply was being generated.")
    message.content = turn.text
    message.status = status
    message.ttfb_ms = turn.ttfb_ms
    message.duration_ms = round((time.monotonic() - started) * 1000)
    message.prompt_tokens = turn.usage.prompt_tokens if turn.usage else None
    message.completion_tokens = completion
    message.tokens_per_s = tokens_per_second(completion, message.ttfb_ms, message.duration_ms)
    message.error_code = error.code if error else ""
    message.error_text = error.detail if error else ""
    message.updated_at = timezone.now()
    await message.asave(update_fields=[
        "content", "status", "ttfb_ms", "duration_ms", "prompt_tokens", "completion_tokens", "tokens_per_s", "error_code",
        "error_text", "tool_calls", "updated_at", "model",
    ])


def usage_event(message: Message) -> dict[str, Any]:
    """The SSE `usage` payload of a stored turn."""
    return {
        "message": str(message.id), "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens, "ttfb_ms": message.ttfb_ms, "duration_ms": message.duration_ms,
        "tokens_per_s": message.tokens_per_s,
    }


def done_status(status: str) -> str:
    """The `done` event's status: `complete`, `cancelled` or `error` (API.md); an
    interrupted reply ends as an error."""
    return status if status in (Message.Status.COMPLETE, Message.Status.CANCELLED) else Message.Status.ERROR


async def _emit_usage(publisher: Publisher, message: Message) -> None:
    await publisher.emit("usage", usage_event(message))


async def _finish(generation: Generation, message: Message, *, status: str, started: float) -> None:
    """Store the last turn and close the log with usage, error, done."""
    publisher = generation.publisher
    turn = generation.turn or Turn()
    # Stopped while its tools ran: the turn that asked for them is already stored complete.
    already_stored = bool(message.tool_calls) and message.status == Message.Status.COMPLETE
    try:
        if not already_stored:
            await _store_final(message, turn, status=status, started=started)
        # The reply's final turn becomes the branch shown, unless the user switched meanwhile
        # (or, in a comparison, another sibling is the one shown).
        await ChatSession.objects.filter(pk=message.session_id, active_leaf_id=generation.message_id).aupdate(
            active_leaf=message, updated_at=timezone.now()
        )
    except Exception:
        logger.exception("could not store reply %s", message.pk)
    mid = str(message.id)
    await _emit_usage(publisher, message)
    if message.error_code:
        await publisher.emit("error", {"message": mid, "code": message.error_code, "detail": message.error_text})
    await publisher.emit("done", {"message": mid, "status": done_status(status)})
    await publisher.message_update(message)
    if status == Message.Status.COMPLETE:
        title_schedule(message.session_id)


# --- crash recovery -------------------------------------------------------------------------

async def message_recover_stale(*, session_id: Any = None, message_ids: Iterable[Any] = ()) -> int:
    """Mark `streaming`/`pending` messages whose heartbeat stopped as `interrupted`, keeping
    their text. Messages generating in this process are never touched. Returns the count."""
    cutoff = timezone.now() - timezone.timedelta(seconds=settings.GENERATION_STALE_AFTER_S)
    query = Message.objects.filter(
        status__in=[Message.Status.STREAMING, Message.Status.PENDING], updated_at__lt=cutoff
    ).exclude(pk__in=list(_running))
    ids = list(message_ids)
    if ids:
        query = query.filter(pk__in=ids)
    if session_id is not None:
        query = query.filter(session_id=session_id)
    count = await query.aupdate(
        status=Message.Status.INTERRUPTED, error_code="interrupted",
        error_text="The worker generating this reply stopped; the text so far is kept.",
    )
    if count:
        logger.warning("marked %d stale streaming messages as interrupted", count)
    return count


def has_stale(messages: Iterable[Message]) -> bool:
    """Whether any of these messages is generating with an old heartbeat (cheap, no query)."""
    cutoff = timezone.now() - timezone.timedelta(seconds=settings.GENERATION_STALE_AFTER_S)
    return any(
        m.status in (Message.Status.STREAMING, Message.Status.PENDING) and m.updated_at < cutoff and m.id not in _running
        for m in messages
    )
