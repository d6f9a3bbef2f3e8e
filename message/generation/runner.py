"""The turn loop of one reply: provider stream with fallback, tools, final write, events.

Per turn:

1. stream the model (falling back along its fallback list while nothing was produced),
   merging deltas that arrive within `STREAM_COALESCE_MS`; the stored text is written at
   most every `STREAM_PERSIST_INTERVAL_MS` and once at the end, never per token. The
   model's reasoning (`ReasoningDelta`) is merged by a second coalescer, made on its first
   piece (a reply without reasoning pays one flag test per delta), sent as `reasoning`
   events (unless the model's `show_reasoning` is off) and stored apart from the text;
   when the stream switches between reasoning and text, the other coalescer is flushed
   first, so order is kept. TTFB is the time to the first *answer* text;
2. if the model asked for tools, store its turn with the calls, run the calls
   concurrently (each result streamed and stored as a `tool` message the moment it
   finishes), start the next assistant turn under the last result and go to 1, at most
   `TOOL_MAX_ROUNDS` times (the last round offers no tools, so the model must answer).

A reply for a client that runs its own tools (`turn.ClientTurn`: `/v1/chat/completions`)
is one model call offered the client's tools: a tool call ends it (step 2 never runs).

A reply made with an assistant (`ai_model.Assistant`) sends its system prompt first and its
sampling settings, and offers only its allowed tools (`request.py`); a `chat` assistant's
offers none, and a `plan` assistant's reply is a plan and its steps (`plan.py`), each step
the loop above, with the same bound on tool rounds for the whole reply.

Writes go through a `ReplyStore`, events through a `Publisher`; this module does not
touch the ORM. A failure or a cancel still stores the text so far and ends the log
with `usage`, `error`?, `done`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.conf import settings

from ai_model.providers.registry import adapter_for
from ai_model.selectors import ai_model_chain
from ai_model.tools import Tool, tools_run_concurrently
from ai_model.types import (
    ChatMessage, ChatRequest, Done, ReasoningBlock, ReasoningDelta, StreamError, TextDelta, ToolCall, Usage,
)
from chat_session.titles import title_schedule
from core.db import db_context
from core.runtime import runtime
from message.generation.plan import Planner
from message.generation.publisher import Publisher
from message.generation.admission import Slots
from message.generation.registry import Generation, generations
from message.generation.store import ReplyStore, Status
from message.generation.request import ChatSettings, chat_request, reply_tools, system_turn
from message.generation.turn import ClientTurn, Turn, usage_sum
from message.context import Context
from message.streaming.coalesce import Coalescer
from message.streaming.log import event_log_create
from message.streaming.payloads import (
    Delta, Fallback, Reasoning, ToolCallMade, ToolResultMade, closing_events, usage_report,
)

if TYPE_CHECKING:
    from ai_model.models import AIModel, Assistant
    from message.models import Message

logger = logging.getLogger(__name__)


async def generation_start(
    *,
    reply: Message,
    ai_model: AIModel,
    context: Context,
    before: Iterable[Message] = (),
    slot: tuple[Slots, str] | None = None,
    client: ClientTurn | None = None,
    assistant: Assistant | None = None,
    chat: ChatSettings | None = None,
    prefill: str = "",
) -> Generation:
    """Start generating `reply` (an assistant message stored with status `streaming`) to
    `context` (the turns it answers, ending at its user message).

    `before` are messages announced first in the log (the user's new message). Returns
    once the `message` events are logged; the reply is written by a background task, and
    its final context is kept (`message.context`) for the next turn. `slot` (the user's
    concurrent-generation slot, `admission.Slots` and slot id) is freed when it ends.
    `client`: a reply for a client that runs its own tools; `assistant`: the assistant it is
    made with (see the module docstring); `chat`: the session's own settings (its system
    prompt and temperature, `request.ChatSettings`, read with the session in the turn's hop);
    `prefill`: text the reply starts with and the model goes on from (a continued reply: sent
    as a last assistant turn, stored and streamed as the reply's first delta).
    """
    log = event_log_create(reply.id)
    publisher = Publisher(log, reply.session_id)
    for message in before:
        await publisher.message(message)
    await publisher.message(reply)
    generation = Generation(
        message_id=reply.id, log=log, publisher=publisher, slot=slot, user_id=slot[0].user_id if slot else None
    )
    registry = generations()
    registry.add(generation, reply.id)
    runtime().metrics.reply_started(model=ai_model.model_id)
    runner = Runner(generation, ReplyStore(keep_content=client is None or client.store), client, assistant, chat, prefill)
    generation.task = asyncio.get_running_loop().create_task(
        runner.run(reply=reply, ai_model=ai_model, context=context), name=f"generation:{reply.id}"
    )
    return generation


class Runner:
    """Runs one generation to its end (see module docstring)."""

    def __init__(
        self, generation: Generation, store: ReplyStore, client: ClientTurn | None = None,
        assistant: Assistant | None = None, chat: ChatSettings | None = None, prefill: str = "",
    ) -> None:
        self.generation = generation
        self.chat = chat
        #: Text the reply starts with (`generation_start`'s `prefill`).
        self.prefill = prefill
        self.store = store
        self.client = client
        self.assistant = assistant
        #: The tools the current model call offers and its calls may run (`request.reply_tools`:
        #: the model's, or its assistant's allowed ones), and the assistant's system turn.
        self.tools: dict[str, Tool] = {}
        self.system = system_turn(assistant, chat)
        self.publisher = generation.publisher
        #: The model answering now (a fallback replaces it), for the metrics' `model` label.
        self.model: AIModel | None = None
        #: The current model call's delta merger; text it still holds goes out before `done`.
        self.coalescer: Coalescer | None = None
        #: The same for its reasoning (made on the first piece of reasoning).
        self.reasoner: Coalescer | None = None
        #: The context the reply answers, and the turns its tool rounds added to it.
        self.base: Context | None = None
        self.anchor_id: uuid.UUID | None = None
        self.added: list[ChatMessage] = []
        #: The message being generated (a tool round moves it on), when its turn started, and
        #: the tool rounds run so far (at most `TOOL_MAX_ROUNDS` for the whole reply).
        self.current: Message | None = None
        self.started = 0.0
        self.rounds = 0

    async def run(self, *, reply: Message, ai_model: AIModel, context: Context) -> None:
        keep = self.client is None or self.client.store  # a reply not stored leaves no context behind
        self.base, self.anchor_id = (context if keep else None), reply.parent_id
        # The reply outlives its request: its writes run on one of the runtime's DB threads,
        # and give their pooled connection back (core/db.py).
        async with db_context():
            await self._run(reply=reply, ai_model=ai_model, context=list(context.messages))

    async def _run(self, *, reply: Message, ai_model: AIModel, context: list[ChatMessage]) -> None:
        generation = self.generation
        self.current = reply
        self.started = time.monotonic()
        status = Status.COMPLETE
        self.model = ai_model
        try:
            chain = await ai_model_chain(model=ai_model)
            if any(m.images for m in context):
                chain = await self._vision_chain(reply, chain)
            assistant = self.assistant
            if self.prefill:  # a continued reply: the model goes on from the text so far
                turn, *_ = await self.tool_loop(
                    chain, 0, [*context, ChatMessage("assistant", self.prefill)], prefix=self.prefill)
            elif assistant is not None and self.client is None and assistant.strategy == assistant.Strategy.PLAN:
                turn = await Planner(self, chain).run(context)
            else:
                turn, *_ = await self.tool_loop(chain, 0, context)
            if turn.error is not None:
                status = Status.ERROR
        except asyncio.CancelledError:
            status = generation.stop_status
            raise
        except Exception as exc:  # a bug here must still end the reply cleanly
            logger.exception("generation of %s failed", self.current.id)
            status = Status.ERROR
            generation.turn = generation.turn or Turn()
            generation.turn.error = StreamError(code="internal_error", detail=f"{type(exc).__name__}")
        finally:
            # A task of its own, shielded: a cancelled generation must still store what it has
            # and close its log, and it leaves the registry when that is done, even if this
            # task is cancelled again meanwhile (a second cancel, shutdown).
            registry = generations()
            finish = asyncio.get_running_loop().create_task(self._finish(self.current, status=status, started=self.started))
            finish.add_done_callback(lambda _: (registry.remove(generation), generation.finished.set()))
            try:
                await asyncio.shield(finish)
            except asyncio.CancelledError:
                await asyncio.wait([finish])  # cancelled again: the final write still needs this thread
                raise

    async def tool_loop(
        self, chain: list[AIModel], position: int, context: list[ChatMessage], *, into: Turn | None = None,
        prefix: str = "",
    ) -> tuple[Turn, int, list[ChatMessage]]:
        """Model calls into `self.current` until one answers without tools (steps 1 and 2 of
        the module docstring); `into` and `prefix` as `_stream_turn` takes them, for the first
        call. Returns the last turn, the position in `chain` of the model that made it, and
        `context` with the tool rounds added."""
        while True:
            offer_tools = self.rounds < settings.TOOL_MAX_ROUNDS
            turn, position = await self._stream_turn(
                self.current, chain, position, context, tools=offer_tools, started=self.started, into=into, prefix=prefix)
            into, prefix = None, ""
            if self.client is not None:  # the client runs its tools: a call ends the reply
                if turn.tool_calls and self.client.store:
                    self.current.tool_calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in turn.tool_calls]
                return turn, position, context
            if turn.error is not None or not turn.tool_calls or not offer_tools:
                return turn, position, context
            self.rounds += 1
            self.current, context = await self._run_tools(self.current, chain[position], turn, context, self.started)
            self.started = time.monotonic()

    async def _stream_turn(
        self, message: Message, chain: list[AIModel], position: int, context: list[ChatMessage], *, tools: bool,
        started: float, into: Turn | None = None, prefix: str = "",
    ) -> tuple[Turn, int]:
        """One model call into `message`, with fallback; returns the turn and the model used.
        `into`: the turn of `message` so far, which this call continues (its text and usage
        add up: a plan's steps); `prefix`: text of ours sent and stored before the model's."""
        publisher = self.publisher
        mid = str(message.id)
        interval = settings.STREAM_PERSIST_INTERVAL_MS / 1000
        turn = self.generation.turn = into if into is not None else Turn()
        before, turn.usage, turn.tool_calls, turn.finish_reason = turn.usage, None, [], None
        if prefix:
            turn.parts.append(prefix)
            await publisher.emit(Delta(message=mid, text=prefix))
        last_flush = time.monotonic()

        async def send_text(text: str) -> None:
            await publisher.emit(Delta(message=mid, text=text))

        async def send_reasoning(text: str) -> None:
            await publisher.emit(Reasoning(message=mid, text=text))

        async def drop_reasoning(text: str) -> None:
            """`show_reasoning` off: reasoning is stored, never sent."""

        while True:
            model = self.model = chain[position]
            produced = False
            #: Reasoning is buffered in `self.reasoner` (flushed before the next text).
            thinking = False
            turn.error = None
            coalescer = self.coalescer = Coalescer(settings.STREAM_COALESCE_MS / 1000, send_text)
            self.reasoner = None
            self.tools = await reply_tools(model, self.assistant, self.client) if tools else {}
            async for event in adapter_for(model.provider).stream(self.request(model, context, tools=tools)):
                if isinstance(event, TextDelta):
                    if thinking:
                        await self.reasoner.flush()
                        thinking = False
                    produced = True
                    turn.raw_deltas += 1
                    if turn.ttfb_ms is None:  # TTFB: the first answer text, not the first reasoning
                        turn.ttfb_ms = round((time.monotonic() - started) * 1000)
                        if turn.first_token_ms is None:
                            turn.first_token_ms = turn.ttfb_ms
                    turn.parts.append(event.text)
                    await coalescer.text(event.text)
                    now = time.monotonic()
                    if now - last_flush >= interval:
                        await self.store.text_flush(message, turn.text, turn.reasoning)
                        last_flush = now
                    continue
                if isinstance(event, ReasoningDelta):
                    await coalescer.flush()
                    if self.reasoner is None:
                        self.reasoner = Coalescer(
                            settings.STREAM_COALESCE_MS / 1000, send_reasoning if model.show_reasoning else drop_reasoning
                        )
                    thinking = produced = True
                    turn.raw_reasoning_deltas += 1
                    if turn.first_token_ms is None:
                        turn.first_token_ms = round((time.monotonic() - started) * 1000)
                    turn.reasoning_parts.append(event.text)
                    await self.reasoner.text(event.text)
                    now = time.monotonic()
                    if now - last_flush >= interval:
                        await self.store.text_flush(message, turn.text, turn.reasoning)
                        last_flush = now
                    continue
                if thinking:
                    await self.reasoner.flush()
                    thinking = False
                await coalescer.flush()
                if isinstance(event, ReasoningBlock):
                    turn.reasoning_blocks.append(event.data)
                elif isinstance(event, ToolCall):
                    produced = True
                    turn.tool_calls.append(event)
                    await publisher.emit(ToolCallMade(message=mid, id=event.id, name=event.name, arguments=event.arguments))
                elif isinstance(event, Usage):
                    turn.usage = event
                elif isinstance(event, StreamError):
                    turn.error = event
                elif isinstance(event, Done):
                    turn.finish_reason = event.finish_reason
            if thinking:
                await self.reasoner.flush()
            await coalescer.flush()
            if turn.error is not None and not produced and position + 1 < len(chain):
                await self.fall_back(message, model, chain[position + 1], turn.error)
                position += 1
                continue
            turn.usage = usage_sum(before, turn.usage)
            return turn, position

    def request(self, model: AIModel, context: list[ChatMessage], *, tools: bool) -> ChatRequest:
        """This reply's request of one call of `model` to `context` (`request.chat_request`)."""
        return chat_request(model, context, tools=self.tools if tools else None, user=self.generation.user_id,
                            client=self.client, assistant=self.assistant, system=self.system, chat=self.chat)

    async def _vision_chain(self, message: Message, chain: list[AIModel]) -> list[AIModel]:
        """The models of `chain` that read images (the context has some): when the first does
        not, the reply goes to the first that does, announced as a fallback. The services
        checked that one does (`message.services.vision_check`); if an admin changed the
        models since, the chain is kept and the adapters leave the images out."""
        readers = [m for m in chain if m.supports_vision]
        if not readers or readers[0] is chain[0]:
            return readers or chain
        await self.fall_back(message, chain[0], readers[0], StreamError("model_not_vision_capable", "the message has an image"))
        self.model = readers[0]
        return readers

    async def fall_back(self, message: Message, model: AIModel, successor: AIModel, error: StreamError) -> None:
        """`successor` answers `message` instead of `model` (which failed with `error`): the
        `fallback` event, and the stored model."""
        await self.publisher.emit(Fallback(
            message=str(message.id), from_model=str(model.id), to_model=str(successor.id),
            reason=f"{error.code}: {error.detail}"))
        await self.store.model_switch(message, successor)

    async def _run_tools(
        self, message: Message, model: AIModel, turn: Turn, context: list[ChatMessage], started: float
    ) -> tuple[Message, list[ChatMessage]]:
        """Store the turn that asked for tools, run the calls concurrently, store each result
        as it finishes, and create the next assistant turn. Returns it and the new context."""
        publisher = self.publisher
        message.tool_calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in turn.tool_calls]
        await self.store.turn_finish(message, turn, status=Status.COMPLETE, started=started, model=model)
        self._observe(message)
        await publisher.emit(usage_report(message))
        await publisher.message_update(message)
        asked = ChatMessage("assistant", turn.text, tool_calls=tuple(turn.tool_calls),
                            reasoning_blocks=tuple(turn.reasoning_blocks))
        context = [*context, asked]
        self.added.append(asked)
        parent = message
        async for result in tools_run_concurrently(turn.tool_calls, self.tools):
            tool_message = await self.store.tool_result_store(
                parent=parent, call_id=result.call.id, name=result.call.name, content=result.content,
                is_error=result.is_error,
            )
            generations().add(self.generation, tool_message.id)
            await publisher.emit(ToolResultMade(
                message=str(tool_message.id), tool_call_id=result.call.id, content=result.content, is_error=result.is_error
            ))
            await publisher.message_update(tool_message)
            answered = ChatMessage("tool", result.content, tool_call_id=result.call.id, name=result.call.name,
                                   is_error=result.is_error)
            context.append(answered)
            self.added.append(answered)
            parent = tool_message
        following = await self.store.next_turn_create(parent=parent, model=model, assistant_id=message.assistant_id)
        generations().add(self.generation, following.id)
        await publisher.message(following)
        return following, context

    def _observe(self, message: Message) -> None:
        """Record a finished model call (its values as `ReplyStore.turn_finish` set them)."""
        runtime().metrics.model_call_observe(
            model=self.model.model_id, ttfb_ms=message.ttfb_ms, duration_ms=message.duration_ms,
            prompt_tokens=message.prompt_tokens, completion_tokens=message.completion_tokens,
        )

    def _context_keep(self, message: Message, turn: Turn) -> None:
        """Keep the context that ends with the stored `message` for the next turn (`message.context`)."""
        if self.base is None:
            return
        # A client's tool calls end its reply and are stored on it: the database read would give them too.
        calls = tuple(turn.tool_calls) if self.client is not None else ()
        answer = ChatMessage("assistant", turn.text, tool_calls=calls, reasoning_blocks=tuple(turn.reasoning_blocks))
        final = self.base.then([*self.added, answer], budget_chars=self.base.budget_chars)
        runtime().contexts.put(message.id, final, replaces=self.anchor_id, session_id=message.session_id)

    async def _finish(self, message: Message, *, status: str, started: float) -> None:
        """Store the last turn and close the log with (text still held back,) usage, error?, done."""
        generation = self.generation
        turn = generation.turn or Turn()
        for merger in (self.reasoner, self.coalescer):  # reasoning comes before the text it preceded
            if merger is None:
                continue
            try:  # a stopped reply's followers get all of the text that is stored
                await merger.flush()
            except Exception:
                logger.exception("could not send the last text of %s", message.pk)
            merger.close()
        # Stopped while its tools ran: the turn that asked for them is already stored complete.
        already_stored = self.client is None and bool(message.tool_calls) and message.status == Status.COMPLETE
        try:
            if not already_stored:
                await self.store.turn_finish(
                    message, turn, status=status, started=started, leaf_from=generation.message_id, model=self.model,
                )
            else:
                await self.store.active_leaf_follow(first=generation.message_id, last=message)
        except Exception:
            logger.exception("could not store reply %s", message.pk)
        if not already_stored:
            self._observe(message)
            self._context_keep(message, turn)
        runtime().metrics.reply_finished(model=self.model.model_id, status=status)
        for payload in closing_events(message, status=status):
            await self.publisher.emit(payload)
        await self.publisher.message_update(message)
        await self.publisher.close()  # the whole log is in its store before the reply counts as finished
        if self.client is None or self.client.store:  # also after a cancelled or failed reply
            title_schedule(message.session_id)
