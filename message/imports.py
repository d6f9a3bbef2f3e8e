"""Chats from a file (`POST /api/sessions/import`, API.md): our JSON export
(`message.export`, version 1) or ChatGPT's `conversations.json` (its data export: a list of
conversations, each a tree in `mapping`).

Everything is read and checked before anything is stored, and then stored in one
transaction: a malformed file stores nothing. Imported sessions carry their title as a user
title (automatic titles leave it alone); their messages are `complete` (a reply that was
still streaming in the source becomes `cancelled`), keep their tree, order and times, and
name no model (the source's models are not this server's). Searchable as soon as stored
(the search triggers of `message/migrations/0011_message_search.py` see the INSERTs).

ChatGPT's shape (its "Export data" archive), as read here::

    [{"title", "create_time": epoch s, "current_node": node id,
      "mapping": {node id: {"id", "parent": id | null, "children": [id],
                            "message": null | {"author": {"role"}, "create_time",
                                               "content": {"content_type", "parts": [str | object]},
                                               "metadata": {"is_visually_hidden_from_conversation"?}}}}}]

Only user and assistant text is kept (`text` and `multimodal_text` parts that are strings,
`code`'s `text`); system, tool and hidden nodes are skipped and their children hang on the
nearest kept ancestor.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from chat_session.models import ChatSession
from chat_session.services import chat_session_active_leaf_set, chat_session_insert
from core.errors import DomainError
from core.text import nul_free
from message.export import EXPORT_FORMAT
from message.models import Message

_ROLES = {"user": Message.Role.USER, "assistant": Message.Role.ASSISTANT, "tool": Message.Role.TOOL}
_KEPT_STATUSES = {Message.Status.COMPLETE, Message.Status.ERROR, Message.Status.CANCELLED, Message.Status.INTERRUPTED}


class InvalidImport(DomainError):
    """The file is not an export this server reads (400 `invalid_import`, field `file`)."""

    code = "invalid_import"

    def __init__(self, message: str) -> None:
        super().__init__(message, field="file")


class ImportTooLarge(DomainError):
    """The file holds more than `IMPORT_MAX_MESSAGES` messages (413 `import_too_large`)."""

    code = "import_too_large"
    status_code = 413

    def __init__(self, message: str) -> None:
        super().__init__(message, field="file")


@dataclass
class Turn:
    """One message to store: `key` is its id in the file, `parent` its parent's key."""

    key: str
    parent: str | None
    role: str
    content: str
    created_at: datetime
    reasoning: str = ""
    status: str = Message.Status.COMPLETE
    tool_calls: list = field(default_factory=list)
    tool_call_id: str = ""
    tool_name: str = ""
    is_error: bool = False
    preferred: bool = False


@dataclass
class Chat:
    """One session to store: its title, creation time, turns (parents before children) and
    the key of the turn it shows (`leaf`)."""

    title: str
    created_at: datetime
    turns: list[Turn]
    leaf: str | None
    system_prompt: str = ""
    temperature: float | None = None


def _text(value: Any, what: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidImport(f"{what} must be text.")
    if len(value) > limit:
        raise InvalidImport(f"{what} is longer than {limit} characters.")
    return nul_free(value)


def _time(value: Any, fallback: datetime) -> datetime:
    if isinstance(value, bool):
        return fallback
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return fallback
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return fallback


def _ours(doc: dict[str, Any]) -> list[Chat]:
    if doc.get("version") != 1:
        raise InvalidImport(f"Export version {doc.get('version')!r} is not one this server reads (1).")
    session, rows = doc.get("session"), doc.get("messages")
    if not isinstance(session, dict) or not isinstance(rows, list):
        raise InvalidImport("An export needs a `session` object and a `messages` list.")
    now = timezone.now()
    limit = settings.IMPORT_MAX_MESSAGE_CHARS
    turns: list[Turn] = []
    keys: set[str] = set()
    for n, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InvalidImport(f"messages[{n}] is not an object.")
        key, parent = row.get("id"), row.get("parent")
        if not isinstance(key, str) or not key or key in keys:
            raise InvalidImport(f"messages[{n}] needs an `id` of its own.")
        if parent is not None and parent not in keys:
            raise InvalidImport(f"messages[{n}]'s parent is not an earlier message of the file.")
        role = _ROLES.get(row.get("role"))
        if role is None:
            raise InvalidImport(f"messages[{n}] has the role {row.get('role')!r} (user, assistant or tool).")
        status = row.get("status", Message.Status.COMPLETE)
        calls = row.get("tool_calls") or []
        if not isinstance(calls, list) or not all(isinstance(c, dict) for c in calls):
            raise InvalidImport(f"messages[{n}].tool_calls must be a list of objects.")
        keys.add(key)
        turns.append(Turn(
            key=key, parent=parent, role=role, content=_text(row.get("content"), f"messages[{n}].content", limit),
            reasoning=_text(row.get("reasoning"), f"messages[{n}].reasoning", limit),
            status=status if status in _KEPT_STATUSES else Message.Status.CANCELLED,
            created_at=_time(row.get("created_at"), now), tool_calls=calls,
            tool_call_id=_text(row.get("tool_call_id"), f"messages[{n}].tool_call_id", 200),
            tool_name=_text(row.get("tool_name"), f"messages[{n}].tool_name", 200),
            is_error=row.get("is_error") is True, preferred=row.get("preferred") is True,
        ))
    leaf = session.get("active_leaf")
    temperature = session.get("temperature")
    if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, (int, float))
                                    or not 0 <= temperature <= 2):
        raise InvalidImport("session.temperature must be a number from 0 to 2, or null.")
    return [Chat(title=_text(session.get("title"), "session.title", 10_000).strip()[:200],
                 created_at=_time(session.get("created_at"), now), turns=turns,
                 leaf=leaf if leaf in keys else None,
                 system_prompt=_text(session.get("system_prompt"), "session.system_prompt", 8000),
                 temperature=None if temperature is None else float(temperature))]


def _chatgpt_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if not isinstance(content, dict):
        return ""
    kind = content.get("content_type")
    if kind in ("text", "multimodal_text"):
        parts = content.get("parts")
        if not isinstance(parts, list):
            return ""
        return "\n\n".join(p for p in parts if isinstance(p, str) and p.strip())
    if kind == "code" and isinstance(content.get("text"), str):
        return f"```\n{content['text']}\n```"
    return ""


def _chatgpt_one(conversation: Any, n: int) -> Chat:
    if not isinstance(conversation, dict) or not isinstance(conversation.get("mapping"), dict):
        raise InvalidImport(f"Conversation {n} has no `mapping` of messages.")
    mapping: dict[str, Any] = conversation["mapping"]
    now = timezone.now()
    created = _time(conversation.get("create_time"), now)
    limit = settings.IMPORT_MAX_MESSAGE_CHARS
    kept: dict[str, str | None] = {}  # node id -> the kept key it resolves to (itself or an ancestor)
    turns: list[Turn] = []

    def resolve(node_id: Any) -> str | None:
        # The nearest kept node at or above `node_id` (iteratively: trees can be deep).
        chain = []
        current = node_id
        while isinstance(current, str) and current in mapping and current not in kept:
            chain.append(current)
            if len(chain) > len(mapping):
                raise InvalidImport(f"Conversation {n}'s messages form a cycle.")
            node = mapping[current]
            current = node.get("parent") if isinstance(node, dict) else None
        found = kept.get(current) if isinstance(current, str) else None
        for node_id_ in reversed(chain):
            kept[node_id_] = found
        return found

    # Parents before children: walk from the roots, in file order.
    order: list[str] = []
    children: dict[str | None, list[str]] = {}
    for node_id, node in mapping.items():
        if not isinstance(node, dict):
            raise InvalidImport(f"Conversation {n}: node {node_id!r} is not an object.")
        parent = node.get("parent")
        children.setdefault(parent if isinstance(parent, str) and parent in mapping else None, []).append(node_id)
    stack = list(reversed(children.get(None, [])))
    seen: set[str] = set()
    while stack:
        node_id = stack.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        order.append(node_id)
        stack.extend(reversed(children.get(node_id, [])))
    for node_id in order:
        node = mapping[node_id]
        message = node.get("message")
        parent_key = resolve(node.get("parent")) if node.get("parent") in mapping else None
        role = ((message or {}).get("author") or {}).get("role") if isinstance(message, dict) else None
        hidden = isinstance(message, dict) and bool((message.get("metadata") or {}).get("is_visually_hidden_from_conversation"))
        text = _chatgpt_text(message) if isinstance(message, dict) and role in ("user", "assistant") and not hidden else ""
        if not text:
            kept[node_id] = parent_key
            continue
        key = str(node_id)
        kept[node_id] = key
        turns.append(Turn(key=key, parent=parent_key, role=_ROLES[role], content=_text(text, "a message", limit),
                          created_at=_time(message.get("create_time"), created)))
    leaf = conversation.get("current_node")
    leaf_key = resolve(leaf) if isinstance(leaf, str) and leaf in mapping else None
    title = conversation.get("title")
    return Chat(title=(title if isinstance(title, str) else "").strip()[:200], created_at=created, turns=turns, leaf=leaf_key)


def import_parse(data: bytes) -> list[Chat]:
    """The chats in an import file. Raises `InvalidImport` (400 `invalid_import`, field
    `file`) for anything but our export or ChatGPT's `conversations.json` (one conversation
    object is accepted too), `ImportTooLarge` (413) past `IMPORT_MAX_MESSAGES` messages or
    `IMPORT_MAX_SESSIONS` conversations."""
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidImport(f"The file is not JSON: {str(exc)[:200]}") from None
    if isinstance(doc, dict) and doc.get("format") == EXPORT_FORMAT:
        chats = _ours(doc)
    elif isinstance(doc, dict) and "mapping" in doc:
        chats = [_chatgpt_one(doc, 0)]
    elif isinstance(doc, list):
        if not doc:
            raise InvalidImport("The file holds no conversations.")
        if len(doc) > settings.IMPORT_MAX_SESSIONS:
            raise ImportTooLarge(f"The file holds {len(doc)} conversations; at most {settings.IMPORT_MAX_SESSIONS} per import.")
        chats = [_chatgpt_one(c, n) for n, c in enumerate(doc)]
    else:
        raise InvalidImport("The file is neither a chat export of this server nor ChatGPT's conversations.json.")
    total = sum(len(c.turns) for c in chats)
    if total > settings.IMPORT_MAX_MESSAGES:
        raise ImportTooLarge(f"The file holds {total} messages; at most {settings.IMPORT_MAX_MESSAGES} per import.")
    return chats


def _store(user_id: Any, chats: list[Chat]) -> list[ChatSession]:
    sessions = []
    with transaction.atomic():
        for chat in chats:
            session = chat_session_insert(owner_id=user_id, title=chat.title or "Imported chat",
                                          system_prompt=chat.system_prompt, temperature=chat.temperature)
            ids = {t.key: uuid.uuid4() for t in chat.turns}
            rows = []
            # Distinct, increasing times in file order: the tree's order survives equal stamps.
            last = None
            for turn in chat.turns:
                when = turn.created_at
                if last is not None and when <= last:
                    when = last + timedelta(microseconds=1)
                last = when
                rows.append(Message(
                    id=ids[turn.key], session_id=session.id, parent_id=ids.get(turn.parent) if turn.parent else None,
                    role=turn.role, content=turn.content, reasoning=turn.reasoning, status=turn.status,
                    tool_calls=turn.tool_calls, tool_call_id=turn.tool_call_id, tool_name=turn.tool_name,
                    is_error=turn.is_error, preferred=turn.preferred, created_at=when,
                ))
            times = [row.created_at for row in rows]
            Message.objects.bulk_create(rows, batch_size=500)
            # bulk_create stamps `created_at` with now (auto_now_add, on the objects too); the
            # source's times go back on.
            for row, when in zip(rows, times, strict=True):
                row.created_at = when
            Message.objects.bulk_update(rows, ["created_at"], batch_size=500)
            leaf = ids.get(chat.leaf) if chat.leaf else (rows[-1].id if rows else None)
            if leaf is not None:
                chat_session_active_leaf_set(session_id=session.id, leaf_id=leaf)
                session.active_leaf_id = leaf
            sessions.append(session)
    return sessions


async def sessions_import(*, user: Any, data: bytes) -> list[ChatSession]:
    """Store the chats of an import file (`data`: its bytes) as new sessions of `user`, in
    one transaction; returns them in file order. Raises what `import_parse` raises, before
    anything is stored."""
    # On a thread: decoding megabytes of JSON would hold the event loop, and the store is one
    # transaction over several statements (Django has no async transactions).
    return await sync_to_async(lambda: _store(user.pk, import_parse(data)))()
