"""Every write a reply makes, and the recovery of replies whose worker died.

The runner (`runner.py`) calls these and never touches the ORM itself. Counted per
reply without tools, in thread hops: one for the turn (`turn_store`: the session when it
is not known yet, the parent, the user message and the reply, the active leaf, then the
context), the text at most every `STREAM_PERSIST_INTERVAL_MS` while streaming (written
behind the stream, batched with other replies': `texts.py`), and one transaction at the
end with the final state and the session's active leaf (`turn_finish`).

Text enters the database here only, and without NUL (`core.text.nul_free`: PostgreSQL
refuses `\x00` in text and JSON columns, and a model or a tool may well send one): the user
message, the reply's text while streaming and at the end, its tool calls and error, and
tool results.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from ai_model.models import AIModel, reply_cost
from ai_model.types import Attachment, ChatMessage, StreamError
from chat_session.models import ChatSession
from chat_session.services import achat_session_active_leaf_set, chat_session_active_leaf_set
from core.db import db_release, db_thread
from core.errors import NotFound
from core.runtime import runtime
from core.sql import fetch_one, insert, update
from core.text import nul_free, nul_free_json
from message.generation.turn import Turn
from message.attachments import attachment_links
from message.context import Context, context_chars
from message.models import Message, MessageAttachment
from message.selectors import context_read, parent_read, path_match

logger = logging.getLogger(__name__)

Status = Message.Status

_FINAL_FIELDS = [
    "content", "status", "ttfb_ms", "duration_ms", "prompt_tokens", "completion_tokens", "tokens_per_s", "error_code",
    "error_text", "tool_calls", "updated_at", "model_id", "cost", "reasoning", "reasoning_tokens", "reasoning_hidden",
    "reasoning_blocks", "finish_reason",
]


@dataclass
class StoredTurn:
    """What `turn_store` wrote and read: the session, the user message (None for a
    regenerate), one `streaming` reply per model, and the context the replies answer."""

    session: ChatSession
    user_message: Message | None
    replies: list[Message]
    context: Context


#: `SessionCheck.default_model_id` (`default_assistant_id`) when the reply's model
#: (assistant) does not depend on the session's.
ANY_MODEL = object()


@dataclass(frozen=True)
class SessionCheck:
    """A session `turn_store` reads itself: the one of `session_id` owned by `owner_id`,
    whose default model is `default_model_id` and default assistant `default_assistant_id`
    (each unless `ANY_MODEL`)."""

    session_id: Any
    owner_id: Any
    default_model_id: Any
    default_assistant_id: Any = ANY_MODEL


class SessionChanged(Exception):
    """The session a `SessionCheck` expected is not so (gone, another owner's, another
    default model); nothing was written."""


_UNSET = object()


@contextmanager
def _files_exist(attaching: bool) -> Iterator[None]:
    """An attached file deleted between its check and the turn's INSERT (its owner's DELETE,
    or the sweep of unreferenced files) fails the turn's foreign key (at the INSERT, or at
    COMMIT on SQLite): the transaction is rolled back and the send answers NotFound."""
    try:
        yield
    except IntegrityError:
        if not attaching:
            raise
        raise NotFound("An attached file was deleted meanwhile.", field="attachments") from None


# One thread hop for the whole turn (the hot path of every send): the parent is looked up,
# the user message and the replies inserted and the active leaf moved in one transaction
# (Django has no async transaction API), and the context read right after it.
@db_thread
def turn_store(
    *, session: ChatSession | None = None, check: SessionCheck | None = None, content: str | None,
    models: list[AIModel], budget_tokens: int, parent: Any = _UNSET, parent_id: Any = None,
    base: Context | None = None, base_id: Any = None, attachments: list[Attachment] = (), assistant_id: Any = None,
) -> StoredTurn:
    """Store a user message with `content` (none when `content` is None: a regenerate) and
    one empty `streaming` assistant reply per model under it; the first reply becomes the
    session's active leaf. Then the context ending at the new user message (for a
    regenerate, at `parent`), trimmed to `budget_tokens`.

    The user message goes under `parent` (a Message, or None for a session's first message)
    when given, else under message `parent_id` of the session, else under the session's
    default parent (`message.selectors.parent_read`, which raises DomainError
    `invalid_parent`: then nothing is written). `base` is a kept context ending at message
    `base_id` (`message.context`): when that is the parent, the context is `base` and the
    new user message, and the database is not read for it; else `context_read` reads it.
    `attachments` (already checked: the user's files, as `message.attachments.attachments_plan`
    cut them) are linked to the user message in the same transaction. `assistant_id`: the
    assistant the replies are made with (None: none).

    Without `session`, the session is read first, in the same transaction, as `check` says
    (raises SessionChanged, writing nothing, when it is not as expected).
    """
    with _files_exist(bool(attachments)), transaction.atomic():
        if session is None:
            session = fetch_one(ChatSession, where={"id": check.session_id, "owner_id": check.owner_id})
            if session is None or (
                check.default_model_id is not ANY_MODEL and session.default_model_id != check.default_model_id
            ) or (
                check.default_assistant_id is not ANY_MODEL and session.default_assistant_id != check.default_assistant_id
            ):
                raise SessionChanged()
        if parent is _UNSET:
            anchor_id = parent_read(session=session, parent_id=parent_id)
        else:
            anchor_id = parent.pk if parent is not None else None
        parent_of_reply = anchor_id
        user_message = None
        if content is not None:
            content = nul_free(content)
            user_message = Message(
                session=session, parent_id=anchor_id, role=Message.Role.USER, content=content, status=Status.COMPLETE
            )
            parent_of_reply = user_message.pk
            links = attachment_links(user_message, list(attachments)) if attachments else ()
        replies = [
            Message(session=session, parent_id=parent_of_reply, role=Message.Role.ASSISTANT, content="",
                    status=Status.STREAMING, model=model, reasoning_hidden=not model.show_reasoning,
                    assistant_id=assistant_id)
            for model in models
        ]
        insert([user_message, *replies] if user_message is not None else replies)  # prepared INSERTs (core.sql)
        if user_message is not None and links:
            MessageAttachment.objects.bulk_create(links)
        chat_session_active_leaf_set(session_id=session.pk, leaf_id=replies[0].pk)
    budget_chars = context_chars(budget_tokens)
    if base is not None and anchor_id is not None and anchor_id == base_id:
        added = [ChatMessage("user", content, attachments=tuple(attachments))] if user_message else []
        context = base.then(added, budget_chars=budget_chars)
    elif parent_of_reply is None:
        context = Context.of([], budget_chars=budget_chars, whole=True)
    else:
        context = context_read(message_id=parent_of_reply, budget_tokens=budget_tokens)
    return StoredTurn(session=session, user_message=user_message, replies=replies, context=context)


@dataclass
class StoredPath:
    """What `turn_path_store` wrote: the turns that were not stored yet (oldest first) and
    the empty `streaming` reply under the last turn."""

    created: list[Message]
    reply: Message


# One thread hop and one transaction (Django has no async transaction API): the match, the
# new turns, the reply and the active leaf.
@db_thread
def turn_path_store(
    *, session: ChatSession, turns: list[ChatMessage], model: AIModel, match: bool, assistant_id: Any = None,
) -> StoredPath:
    """Store a conversation a client sent whole (`/v1/chat/completions`) as a path of the
    session's tree, and an empty `streaming` reply by `model` at its end; the reply becomes
    the session's active leaf. With `match`, the longest stored path that starts the
    conversation is reused (`message.selectors.path_match`) and only the turns after it are
    added under it (a conversation sent again with one more turn continues its branch; one
    that differs earlier branches off where it differs); else every turn is stored, from
    the root. Assistant turns keep their tool calls, tool turns the call they answer."""
    with _files_exist(any(t.attachments for t in turns)), transaction.atomic():
        parent_id, matched = path_match(session_id=session.pk, turns=turns) if match else (None, 0)
        created = []
        for turn in turns[matched:]:
            created.append(Message(
                session=session, parent_id=parent_id, role=turn.role, content=nul_free(turn.content),
                status=Status.COMPLETE, tool_call_id=nul_free(turn.tool_call_id), tool_name=nul_free(turn.name),
                tool_calls=nul_free_json([{"id": c.id, "name": c.name, "arguments": c.arguments} for c in turn.tool_calls]),
            ))
            parent_id = created[-1].pk
        # A user turn's images are the user's stored files (`openai_api.images`): linked as a send's are.
        links = [link for message, turn in zip(created, turns[matched:]) if turn.attachments
                 for link in attachment_links(message, list(turn.attachments))]
        reply = Message(session=session, parent_id=parent_id, role=Message.Role.ASSISTANT, content="",
                        status=Status.STREAMING, model=model, assistant_id=assistant_id)
        insert([*created, reply])  # prepared INSERTs (core.sql)
        if links:
            MessageAttachment.objects.bulk_create(links)
        chat_session_active_leaf_set(session_id=session.pk, leaf_id=reply.pk)
    return StoredPath(created=created, reply=reply)


async def accounting_reply_store(*, session: ChatSession, model: AIModel, assistant_id: Any = None) -> Message:
    """An empty `streaming` reply by `model` in the user's hidden accounting session
    (`chat_session.services.chat_session_accounting`), for a reply whose content is not
    stored: the row only carries its tokens and cost (`ReplyStore(keep_content=False)`)."""
    return await Message.objects.acreate(
        session=session, role=Message.Role.ASSISTANT, content="", status=Status.STREAMING, model=model,
        assistant_id=assistant_id,
    )


class ReplyStore:
    """The writes of one running reply (see module docstring). With `keep_content` False
    (`/v1/chat/completions` with `"store": false`) the reply's text and tool calls are
    never written: the row keeps only its model, status, tokens, timings and cost, which
    the budgets and the usage report count."""

    def __init__(self, *, keep_content: bool = True) -> None:
        self.keep_content = keep_content

    async def text_flush(self, message: Message, text: str, reasoning: str = "") -> None:
        """The text (and reasoning) so far, while streaming: written behind the stream,
        batched with the other replies' (`texts.TextWriter`); nothing without `keep_content`."""
        if self.keep_content:
            runtime().texts.put(message.pk, nul_free(text), nul_free(reasoning) if reasoning else "")

    async def model_switch(self, message: Message, model: AIModel) -> None:
        """The reply is now generated by `model` (a fallback)."""
        await Message.objects.filter(pk=message.pk).aupdate(
            model=model, reasoning_hidden=not model.show_reasoning, updated_at=timezone.now()
        )
        await db_release()
        message.model = model
        message.reasoning_hidden = not model.show_reasoning

    async def turn_finish(
        self, message: Message, turn: Turn, *, status: str, started: float, leaf_from: uuid.UUID | None = None,
        model: AIModel | None = None,
    ) -> None:
        """One UPDATE with the final state of a turn's message (`started`: monotonic seconds;
        `model`, the model that answered, prices it: `ai_model.models.reply_cost`);
        with `leaf_from`, the reply's final turn also becomes the branch shown
        (`active_leaf_follow`), in the same thread hop and transaction."""
        completion = turn.usage.completion_tokens if turn.usage and turn.usage.completion_tokens is not None else None
        if completion is None and turn.raw_deltas:
            # No usage reported (a stopped stream, or a provider without usage): streamed
            # deltas are about one token each.
            completion = turn.raw_deltas
        error = turn.error
        if error is None and status == Status.INTERRUPTED:
            error = StreamError("interrupted", "The server stopped while this reply was being generated.")
        keep = self.keep_content
        message.content = nul_free(turn.text) if keep else ""
        message.reasoning = nul_free(turn.reasoning) if keep else ""
        message.reasoning_blocks = nul_free_json(turn.reasoning_blocks) if keep else []
        if not keep:
            message.tool_calls = []
        message.reasoning_tokens = (
            turn.usage.reasoning_tokens if turn.usage and turn.usage.reasoning_tokens is not None
            else turn.raw_reasoning_deltas or None  # about one token a delta, as for the text
        )
        if model is not None:
            message.reasoning_hidden = not model.show_reasoning
        message.status = status
        message.ttfb_ms = turn.ttfb_ms
        message.duration_ms = round((time.monotonic() - started) * 1000)
        message.prompt_tokens = turn.usage.prompt_tokens if turn.usage else None
        message.completion_tokens = completion
        # Completion tokens include reasoning: the rate counts from the first token of either.
        first = turn.first_token_ms if turn.first_token_ms is not None else turn.ttfb_ms
        message.tokens_per_s = tokens_per_second(completion, first, message.duration_ms)
        message.cost = reply_cost(model, message.prompt_tokens, completion)
        message.finish_reason = finish_reason_stored(turn, status=status, error=error is not None)
        message.error_code = error.code if error else ""
        message.error_text = nul_free(error.detail) if error else ""
        if message.tool_calls:
            message.tool_calls = nul_free_json(message.tool_calls)
        message.updated_at = timezone.now()
        runtime().texts.discard(message.pk)  # no streaming text may follow the final state
        await _final_write(message, leaf_from)

    async def tool_result_store(self, *, parent: Message, call_id: str, name: str, content: str, is_error: bool) -> Message:
        """A tool's result as a `tool` message under `parent`."""
        return await Message.objects.acreate(
            session_id=parent.session_id, parent=parent, role=Message.Role.TOOL, content=nul_free(content),
            status=Status.COMPLETE,
            tool_call_id=nul_free(call_id), tool_name=nul_free(name), is_error=is_error,
        )

    async def next_turn_create(self, *, parent: Message, model: AIModel, assistant_id: Any = None) -> Message:
        """The assistant turn that follows a round of tool results (made with the same assistant)."""
        return await Message.objects.acreate(
            session_id=parent.session_id, parent=parent, role=Message.Role.ASSISTANT, content="",
            status=Status.STREAMING, model=model, reasoning_hidden=not model.show_reasoning, assistant_id=assistant_id,
        )

    async def plan_store(self, message: Message, steps: list[str]) -> None:
        """A `plan` assistant's steps, on the turn whose `plan` event announced them."""
        message.plan = nul_free_json(list(steps)) if self.keep_content else None
        if self.keep_content:
            await Message.objects.filter(pk=message.pk).aupdate(plan=message.plan)
            await db_release()

    async def active_leaf_follow(self, *, first: uuid.UUID, last: Message) -> None:
        """The reply's final turn becomes the branch shown, unless the user switched
        meanwhile (or, in a comparison, another sibling is the one shown)."""
        await achat_session_active_leaf_set(session_id=last.session_id, leaf_id=last.pk, when_leaf_id=first)
        await db_release()

    async def heartbeat(self, message_ids: list[uuid.UUID]) -> None:
        """Touch `updated_at` of generating messages: this worker is alive."""
        await Message.objects.filter(pk__in=message_ids, status=Status.STREAMING).aupdate(updated_at=timezone.now())


# Django has no async transaction API: the final UPDATE and the active leaf's go together, in
# one thread hop (prepared statements: core.sql).
@db_thread
def _final_write(message: Message, leaf_from: uuid.UUID | None) -> None:
    with transaction.atomic():
        update(Message, values={name: getattr(message, name) for name in _FINAL_FIELDS}, where={"id": message.pk})
        if leaf_from is not None:
            chat_session_active_leaf_set(session_id=message.session_id, leaf_id=message.pk, when_leaf_id=leaf_from)


def finish_reason_stored(turn: Turn, *, status: str, error: bool) -> str:
    """The `Message.finish_reason` of a turn that ended with `status`: blank unless it is
    complete without error; `tool_calls` when it asked for tools (some providers say
    `stop` then); else the model's reason (`ai_model.types.FinishReason`), `stop` when it did
    not give one (the stream ended normally)."""
    if status != Status.COMPLETE or error:
        return ""
    if turn.tool_calls and turn.finish_reason in (None, "stop"):
        return "tool_calls"
    return turn.finish_reason or "stop"


def tokens_per_second(completion_tokens: int | None, ttfb_ms: int | None, duration_ms: int | None) -> float | None:
    """Decode speed: completion tokens over the time after the first token (None if unknown)."""
    if not completion_tokens or ttfb_ms is None or duration_ms is None or duration_ms <= ttfb_ms:
        return None
    return round(completion_tokens / ((duration_ms - ttfb_ms) / 1000), 2)


# --- crash recovery -------------------------------------------------------------------------

STALE_TEXT = "The worker generating this reply stopped; the text so far is kept."


async def message_recover_stale(*, session_id: Any = None, message_ids: Iterable[Any] = ()) -> int:
    """Mark `streaming` messages whose heartbeat stopped as `interrupted`, keeping their
    text. Messages generating in this process are never touched. Returns the count."""
    cutoff = timezone.now() - timezone.timedelta(seconds=settings.GENERATION_STALE_AFTER_S)
    query = Message.objects.filter(status=Status.STREAMING, updated_at__lt=cutoff).exclude(
        pk__in=runtime().generations.message_ids()
    )
    ids = list(message_ids)
    if ids:
        query = query.filter(pk__in=ids)
    if session_id is not None:
        query = query.filter(session_id=session_id)
    count = await query.aupdate(status=Status.INTERRUPTED, error_code="interrupted", error_text=STALE_TEXT)
    if count:
        logger.warning("marked %d stale streaming messages as interrupted", count)
    return count


def _is_stale(message: Message, cutoff: Any, running: set[uuid.UUID]) -> bool:
    return message.status == Status.STREAMING and message.updated_at < cutoff and message.id not in running


async def messages_settle(messages: list[Message]) -> list[Message]:
    """`messages` as just read, with any whose worker died (no heartbeat for
    `GENERATION_STALE_AFTER_S`) stored and returned as `interrupted`. No query unless one is stale."""
    cutoff = timezone.now() - timezone.timedelta(seconds=settings.GENERATION_STALE_AFTER_S)
    running = set(runtime().generations.message_ids())
    stale = [m for m in messages if _is_stale(m, cutoff, running)]
    if stale:
        await message_recover_stale(message_ids=[m.id for m in stale])
        for message in stale:
            await message.arefresh_from_db()
    return messages
