"""Writes for messages: storing a user turn, regenerating a reply, stopping one, and a
whole conversation from an OpenAI client (`message_complete`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from accounts.selectors import usage_limits_get
from ai_model.selectors import ai_model_chain
from ai_model.services import ai_model_for_reply, model_admission_check
from chat_session.models import ChatSession
from ai_model.types import Attachment, ChatMessage
from files.models import StoredFile
from files.selectors import files_for_message
from chat_session.selectors import chat_session_get
from chat_session.services import chat_session_accounting, chat_session_create
from core.errors import Conflict, DomainError, NotFound
from core.ids import uuid_or_404
from core.runtime import runtime
from message.generation.admission import Slots
from message.generation.registry import Generation, generations
from message.generation.request import ChatSettings
from message.generation.runner import generation_start
from message.generation.store import (
    ANY_MODEL,
    SessionChanged,
    SessionCheck,
    StoredTurn,
    accounting_reply_store,
    messages_settle,
    turn_path_store,
    turn_store,
)
from message.generation.turn import ClientTurn
from message.openai_api.images import turns_with_images
from message.openai_api.wire import ImagePart
from message.assistants import completion_assistant, model_defaults, reply_assistant
from message.attachments import attachments_attach, attachments_plan, file_dict, needs_vision
from message.context import Context, SessionTip, context_chars
from message.models import Message
from message.selectors import message_context, message_get, message_list


@dataclass
class StartedReply:
    """A reply being generated: the stored user message (None for a regenerate), the
    assistant reply (status `streaming`) and its running generation."""

    user_message: Message | None
    reply: Message
    generation: Generation


async def message_send(
    *, session: ChatSession, content: str, parent_id: uuid.UUID | None = None, model_id: Any = None,
    attachment_ids: list[Any] = (), assistant_id: Any = None, root: bool = False,
) -> StartedReply:
    """Store a user message under `parent_id` (default: the session's active leaf, else its
    newest leaf; with `root`, under none: a new first message, beside the existing) with the
    files `attachment_ids` (the owner's, in order) and start its assistant reply with `model_id` (default: the session's model, else the local one). A
    `parent_id` above the leaf starts a new branch; nothing is deleted. Validation happens
    before anything is written; raises DomainError (fields `parent`, `model`: also
    `model_not_vision_capable` for an image to a model that, with its fallbacks, reads
    none; `attachments`), NotFound for a file that is not the owner's. `assistant_id`
    (default: the session's assistant) must be one the owner may use (NotFound, field
    `assistant`); its model comes before the session's when `model_id` is None."""
    assistant = await reply_assistant(
        user_id=session.owner_id, assistant_id=assistant_id, default_id=session.default_assistant_id)
    ai_model = await ai_model_for_reply(model_id=model_id, defaults=model_defaults(assistant, session.default_model_id))
    attachments = await _attachments(
        owner_id=session.owner_id, file_ids=attachment_ids, models=[ai_model], content=content)
    slots = await _admit(user_id=session.owner_id, models=[ai_model])
    with _released_on_error(slots):
        stored = await _turn_store(
            session=session, parent_id=parent_id, root=root, content=content, models=[ai_model],
            budget_tokens=ai_model.context_budget, attachments=attachments, assistant_id=assistant.pk if assistant else None,
        )
        return await _reply_start(stored, ai_model, slots, assistant)


async def _attachments(
    *, owner_id: Any, file_ids: list[Any], models: list[Any], content: str,
) -> list[tuple[StoredFile, Attachment]]:
    """The files `file_ids` of user `owner_id` as the new message's attachments (documents
    cut to the smallest context budget of `models`: `message.attachments.attachments_plan`),
    after checking that each of `models` (or one of its fallbacks) reads images when one is
    attached. No query without files."""
    if not file_ids:
        return []
    files = await files_for_message(user=owner_id, file_ids=file_ids)
    attachments = attachments_plan(files=files, content=content, budget_tokens=min(m.context_budget for m in models))
    if any(a.kind == "image" for a in attachments):
        for model in models:
            await vision_check(model=model)
    return list(zip(files, attachments, strict=True))


async def vision_check(*, model: Any) -> None:
    """Raise DomainError 400 `model_not_vision_capable` (field `model`) unless `model` or one
    of its fallbacks reads images (the runner then answers with the first that does)."""
    if model.supports_vision or any(m.supports_vision for m in await ai_model_chain(model=model)):
        return
    raise DomainError(
        f"{model.display_name} cannot read images, and none of its fallback models can. "
        "Pick a model with vision, or send the message without the image.",
        code="model_not_vision_capable", field="model",
    )


async def _admit(*, user_id: Any, models: list[Any]) -> Slots:
    """The request's admission (`generation.admission`: rate, budgets, one slot per reply),
    and room for each embedded-model reply (raises TooManyRequests / ModelBusyError)."""
    for model in models:
        model_admission_check(model=model)
    return await runtime().admission.admit(user_id=user_id, replies=len(models))


@contextmanager
def _released_on_error(slots: Slots) -> Iterator[None]:
    """Slots not yet handed to a generation go back if storing or starting fails."""
    try:
        yield
    except BaseException:
        slots.release()
        raise


async def message_send_to(
    *, user: Any, session_id: Any, content: str, parent_id: uuid.UUID | None = None, model_id: Any = None,
    attachment_ids: list[Any] = (), assistant_id: Any = None, root: bool = False,
) -> StartedReply:
    """`message_send` into the session `session_id` of `user` (raises NotFound for a
    missing id or another user's session, as `chat_session_get`). When this worker has seen
    the session lately (`message.context.SessionTip`), the session is read in the same
    thread hop as the turn (its owner, default model and assistant checked there); else it is
    read first. Without an assistant, nothing is read for one. A `root` message (an edit of
    the first message, rare) always takes the ordinary path."""
    pk = uuid_or_404(session_id)
    tip = runtime().contexts.tip(pk)
    if tip is not None and tip.owner_id == user.pk and not root:
        assistant = await reply_assistant(
            user_id=user.pk, assistant_id=assistant_id, default_id=tip.default_assistant_id)
        ai_model = await ai_model_for_reply(model_id=model_id, defaults=model_defaults(assistant, tip.default_model_id))
        check = SessionCheck(pk, user.pk, tip.default_model_id if model_id is None else ANY_MODEL,
                             tip.default_assistant_id if assistant_id is None else ANY_MODEL)
        attachments = await _attachments(owner_id=user.pk, file_ids=attachment_ids, models=[ai_model], content=content)
        slots = await _admit(user_id=user.pk, models=[ai_model])
        try:
            with _released_on_error(slots):
                stored = await _turn_store(
                    check=check, expected=parent_id or tip.leaf_id, parent_id=parent_id, content=content,
                    models=[ai_model], budget_tokens=ai_model.context_budget, attachments=attachments,
                    assistant_id=assistant.pk if assistant else None,
                )
                return await _reply_start(stored, ai_model, slots, assistant)
        except SessionChanged:
            pass  # the ordinary path below answers (or says NotFound)
    session = await chat_session_get(user=user, session_id=pk)
    return await message_send(
        session=session, content=content, parent_id=parent_id, model_id=model_id, attachment_ids=attachment_ids,
        assistant_id=assistant_id, root=root)


async def _reply_start(stored: StoredTurn, ai_model: Any, slots: Slots, assistant: Any = None, prefill: str = "") -> StartedReply:
    (reply,) = stored.replies
    generation = await generation_start(
        reply=reply, ai_model=ai_model, context=stored.context, before=[stored.user_message] if stored.user_message else (),
        slot=(slots, slots.ids[0]), assistant=assistant, chat=ChatSettings.of(stored.session), prefill=prefill,
    )
    return StartedReply(user_message=stored.user_message, reply=reply, generation=generation)


async def _turn_store(
    *, session: ChatSession | None = None, check: SessionCheck | None = None, expected: Any = None,
    parent_id: Any = None, parent: Message | None = None, root: bool = False,
    attachments: list[tuple[StoredFile, Attachment]] = (), **turn: Any,
) -> StoredTurn:
    """`turn_store`, given the kept context of the parent it expects (`message.context`):
    `parent`, else `parent_id`, else `expected` (with `check`) or the session's active leaf;
    with `root` (and `session`), none: the user message is a new first message.
    The context of the new user message (or of `parent`, for a regenerate) is kept in turn,
    and the session's tip noted. `attachments`: the user message's files, as `_attachments`
    checked and cut them."""
    contexts = runtime().contexts
    if root:
        expected = None
    elif parent is not None:
        expected = parent.pk
    elif session is not None:
        expected = parent_id or session.active_leaf_id
    base = contexts.get(expected, budget_chars=context_chars(turn["budget_tokens"])) if expected else None
    anchor = {"parent": parent} if parent is not None or root else {"parent_id": parent_id}
    stored = await turn_store(
        session=session, check=check, base=base, base_id=expected, attachments=[a for _, a in attachments], **anchor, **turn)
    session = stored.session
    if stored.user_message is not None:
        stored.user_message.attached = [
            file_dict(f, included_chars=len(a.text) if a.kind == "document" else None) for f, a in attachments]
    contexts.tip_set(session.pk, SessionTip(session.owner_id, session.default_model_id, None, session.default_assistant_id))
    if stored.user_message is not None:  # it extends its parent's context
        contexts.put(stored.user_message.pk, stored.context, replaces=stored.user_message.parent_id,
                     session_id=session.pk)
    elif parent is not None:
        contexts.put(parent.pk, stored.context, session_id=session.pk)
    return stored


@dataclass
class StartedComparison:
    """One user message and one reply per model, all generating."""

    user_message: Message
    replies: list[StartedReply]


async def message_compare(
    *, session: ChatSession, content: str, model_ids: list[Any], parent_id: uuid.UUID | None = None,
    attachment_ids: list[Any] = (), root: bool = False,
) -> StartedComparison:
    """Store one user message and start one assistant sibling per model, concurrently,
    each through the normal generation service (so each can be resumed, cancelled and
    regenerated), each with the session's assistant if it has one (its prompt, settings and
    tools; the models are the ones given). A failing model fails only its own reply.
    Validation happens before anything is written; raises DomainError (fields `parent`,
    `models`), NotFound (the session's assistant taken back). `parent_id` and `root` as for
    `message_send`."""
    limit = (await usage_limits_get(user_id=session.owner_id)).models_per_comparison
    if len(model_ids) > limit:
        raise DomainError(f"You can compare at most {limit} models at once.", code="too_many_models", field="models")
    models = []
    for position, model_id in enumerate(model_ids):
        try:
            models.append(await ai_model_for_reply(model_id=model_id))
        except DomainError as exc:
            raise DomainError(f"Model #{position + 1}: {exc.message}", code=exc.code, field="models") from None
    try:
        attachments = await _attachments(owner_id=session.owner_id, file_ids=attachment_ids, models=models, content=content)
    except DomainError as exc:
        if exc.code != "model_not_vision_capable":
            raise
        raise DomainError(exc.message, code=exc.code, field="models") from None
    assistant = await reply_assistant(user_id=session.owner_id, default_id=session.default_assistant_id)
    slots = await _admit(user_id=session.owner_id, models=models)
    with _released_on_error(slots):
        stored = await _turn_store(
            session=session, parent_id=parent_id, root=root, content=content, models=models,
            budget_tokens=min(m.context_budget for m in models), attachments=attachments,
            assistant_id=assistant.pk if assistant else None,
        )
        user_message = stored.user_message
        started = []
        for index, (reply, model, slot_id) in enumerate(zip(stored.replies, models, list(slots.ids), strict=True)):
            generation = await generation_start(
                reply=reply, ai_model=model, context=stored.context, before=[user_message] if index == 0 else (),
                slot=(slots, slot_id), assistant=assistant, chat=ChatSettings.of(stored.session),
            )
            started.append(StartedReply(user_message=user_message, reply=reply, generation=generation))
    return StartedComparison(user_message=user_message, replies=started)


async def message_prefer(*, message: Message) -> Message:
    """Mark `message` as the preferred reply among its sibling replies (and no other).
    Raises DomainError for a message that is not an assistant reply."""
    if message.role != Message.Role.ASSISTANT:
        raise DomainError("Only an assistant reply can be preferred.", code="not_a_reply", field="message")
    await Message.objects.filter(parent_id=message.parent_id, session_id=message.session_id, role=Message.Role.ASSISTANT).exclude(
        pk=message.pk
    ).aupdate(preferred=False)
    await Message.objects.filter(pk=message.pk).aupdate(preferred=True)
    await message.arefresh_from_db()
    return message


async def message_continue(*, message: Message) -> StartedReply:
    """A new assistant sibling of `message` (an assistant reply) that starts with its text and
    goes on from there: the model is sent that text as the last (assistant) turn, a prefill,
    and the new reply's first delta is the whole of it. Meant for a reply the token limit cut
    (`finish_reason` `length`) or one that was stopped. Same model and assistant as
    `message`. Raises DomainError 400 `not_continuable` (field `message`) for a user or tool
    message or a reply without text, Conflict 409 `still_streaming` while it streams.

    Providers: OpenAI-compatible servers, llama.cpp, Ollama and Anthropic (without extended
    thinking) continue a trailing assistant turn; OpenAI's own API and Gemini may answer it
    as a new turn instead (the text then follows the kept prefix)."""
    if message.role != Message.Role.ASSISTANT or not message.parent_id:
        raise DomainError("Only an assistant reply can be continued.", code="not_continuable", field="message")
    if message.status == Message.Status.STREAMING:
        raise Conflict("The reply is still being generated.", code="still_streaming", field="message")
    if not message.content.strip():
        raise DomainError("The reply has no text to continue.", code="not_continuable", field="message")
    return await message_regenerate(message=message, prefill=message.content)


async def message_regenerate(
    *, message: Message, model_id: Any = None, assistant_id: Any = None, prefill: str = "",
) -> StartedReply:
    """A new assistant sibling of `message` (an assistant reply) under the same parent, or a
    new reply under `message` itself when it is a user message; earlier replies stay.
    Uses `model_id`, else the replaced reply's model; `assistant_id`, else the replaced
    reply's assistant (for a user message, the session's). Raises DomainError (field
    `message`, `model`), NotFound (field `assistant`: one the user may not use)."""
    if message.role == Message.Role.USER:
        anchor = message
    elif message.role == Message.Role.ASSISTANT and message.parent_id:
        anchor = await Message.objects.aget(pk=message.parent_id)
    else:
        raise DomainError("Only an assistant reply or a user message can be regenerated.", code="not_regenerable", field="message")
    session = message.session
    inherited = message.assistant_id if message.role == Message.Role.ASSISTANT else session.default_assistant_id
    assistant = await reply_assistant(user_id=session.owner_id, assistant_id=assistant_id, default_id=inherited)
    defaults = [message.model_id, session.default_model_id]
    ai_model = await ai_model_for_reply(
        model_id=model_id, defaults=model_defaults(assistant, *defaults) if assistant_id is not None else defaults)
    if not ai_model.supports_vision:
        context = runtime().contexts.get(anchor.pk, budget_chars=context_chars(ai_model.context_budget))
        turns = context.messages if context is not None else await message_context(
            message=anchor, budget_tokens=ai_model.context_budget)
        if needs_vision(turns):
            await vision_check(model=ai_model)
    slots = await _admit(user_id=message.session.owner_id, models=[ai_model])
    with _released_on_error(slots):
        stored = await _turn_store(
            session=session, parent=anchor, content=None, models=[ai_model], budget_tokens=ai_model.context_budget,
            assistant_id=assistant.pk if assistant else None,
        )
        return await _reply_start(stored, ai_model, slots, assistant, prefill=prefill)


async def message_cancel(*, message: Message, wait_s: float = 2.0) -> Message:
    """Stop the generation of `message` (any worker, with Redis) and wait up to `wait_s`
    for its final state; the text so far is kept, status becomes `cancelled`.
    A finished message is returned as is."""
    registry = generations()
    generation = registry.get(message.id)
    if generation is None and message.status in Message.FINAL_STATUSES:
        return message
    await registry.cancel(message.id)
    if generation is not None:
        # (The message may already be final while its generation goes on: a turn that
        # asked for tools is stored before they run.)
        # Never raises: past `wait_s` the answer is the state stored so far.
        await asyncio.wait({asyncio.ensure_future(generation.finished.wait())}, timeout=wait_s)
    else:  # running on another worker: watch the database for its final write
        deadline = asyncio.get_running_loop().time() + wait_s
        while asyncio.get_running_loop().time() < deadline:
            await message.arefresh_from_db()
            if message.status in Message.FINAL_STATUSES:
                break
            await asyncio.sleep(0.05)
    await message.arefresh_from_db()
    return message


async def message_load(*, user: Any, message_id: Any) -> Message:
    """The user's message for an endpoint: read, and stored `interrupted` first if the
    worker generating it died (raises NotFound as `message_get`)."""
    message = await message_get(user=user, message_id=message_id)
    await messages_settle([message])
    await attachments_attach([message])
    return message


async def message_list_load(*, session: ChatSession) -> list[Message]:
    """Every message of the session, oldest first, with dead workers' replies settled and
    the user messages' attachments read (one more query when any has one)."""
    return await attachments_attach(await messages_settle(await message_list(session=session)))


@dataclass
class StartedCompletion:
    """A reply to a conversation an OpenAI client sent whole: its session (None when not
    stored), the assistant reply (status `streaming`) and its running generation."""

    session: ChatSession | None
    reply: Message
    generation: Generation


async def message_complete(
    *, user: Any, turns: list[ChatMessage], model_id: Any, client: ClientTurn, session_id: Any = None,
    images: dict[int, tuple[ImagePart, ...]] | None = None,
) -> StartedCompletion:
    """Answer the conversation `turns` (oldest first, as `/v1/chat/completions` sent it) with
    the model `model_id` names (UUID, `model_id` or public name: `ai_model_find`), for a
    client that runs its own tools (`client`).

    Admitted as every reply (`generation.admission`: rate, budgets, one slot). With
    `client.store`: in the session `session_id` of `user` (the conversation's stored prefix
    reused, `store.turn_path_store`), else in a new session; the model sees `turns` as sent,
    not the stored branch. Without: nothing of the conversation is written, only the reply's
    usage row in the user's hidden accounting session. `images`: the image parts of user
    turns, by turn index (`openai_api.images.turns_with_images`: stored as the user's files
    with `client.store`, else kept for this reply only). Raises DomainError (`invalid_model`,
    field `model`; `model_not_vision_capable`; the image parts' errors; NotFound for
    `session_id`), TooManyRequests, ServerBusyError. A `model_id` of the form
    `assistant/<slug>` names one of the user's assistants (`message.assistants`): its model,
    system prompt and sampling settings answer (tools stay the client's: no built-in tool
    and no plan runs on `/v1`).
    """
    assistant = await completion_assistant(user_id=user.pk, model_name=model_id)
    if assistant is not None:
        ai_model = await ai_model_for_reply(defaults=model_defaults(assistant))
    else:
        ai_model = await ai_model_for_reply(model_id=model_id)
    if images:
        await vision_check(model=ai_model)
    session = None
    if client.store and session_id is not None:
        try:
            session = await chat_session_get(user=user, session_id=session_id)
        except NotFound:
            raise NotFound("No such session.", field="X-Session-Id") from None
    slots = await _admit(user_id=user.pk, models=[ai_model])
    with _released_on_error(slots):
        if images:
            turns = await turns_with_images(user=user, turns=turns, images=images, store=client.store)
        created: list[Message] = []
        if client.store:
            continued = session is not None
            session = session or await chat_session_create(user=user, model=ai_model, assistant=assistant)
            stored = await turn_path_store(session=session, turns=turns, model=ai_model, match=continued,
                                           assistant_id=assistant.pk if assistant else None)
            created, reply = stored.created, stored.reply
        else:
            reply = await accounting_reply_store(session=await chat_session_accounting(user=user), model=ai_model,
                                                 assistant_id=assistant.pk if assistant else None)
        # The model answers the conversation as the client sent it (whole: never trimmed here).
        context = Context.of(turns, budget_chars=context_chars(ai_model.context_budget), whole=True)
        generation = await generation_start(
            reply=reply, ai_model=ai_model, context=context, before=created, slot=(slots, slots.ids[0]), client=client,
            assistant=assistant,
        )
    return StartedCompletion(session=session if client.store else None, reply=reply, generation=generation)
