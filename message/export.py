"""A session as a file (`GET /api/sessions/{id}/export`, API.md): the whole tree as JSON, or
the branch shown as Markdown. Reads only: the messages come from `message_list_load` (dead
workers' replies settled first, so an export never shows a stale `streaming`).

The JSON document (version 1), which `message.imports` reads back::

    {"format": "chat-backend-export", "version": 1, "exported_at": iso,
     "session": {"id", "title", "title_set_by_user", "active_leaf", "system_prompt", "temperature",
                 "created_at", "updated_at"},
     "messages": [{"id", "parent", "role", "content", "reasoning", "status", "finish_reason",
                   "model", "model_name", "assistant", "tool_calls", "tool_call_id", "tool_name",
                   "is_error", "error", "usage", "preferred", "attachments": [{"name", "mime", "size",
                   "sha256", "kind"}], "created_at"}, ...]}   # every branch, oldest first

Attachments are described, not included (their bytes stay in the files app).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from django.utils import timezone

from ai_model.models import AIModel
from chat_session.models import ChatSession
from message.models import Message
from message.serializers import message_to_dict

EXPORT_FORMAT = "chat-backend-export"
EXPORT_VERSION = 1
_ATTACHMENT_KEYS = ("name", "mime", "size", "sha256", "kind")


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


async def _model_names(messages: list[Message]) -> dict[Any, str]:
    ids = {m.model_id for m in messages if m.model_id}
    if not ids:
        return {}
    return {pk: name async for pk, name in AIModel.objects.filter(pk__in=ids).values_list("pk", "display_name")}


async def session_export_json(*, session: ChatSession, messages: list[Message]) -> dict[str, Any]:
    """The JSON export document of `session` (shape in the module docstring)."""
    names = await _model_names(messages)
    rows = []
    for message in messages:
        row = message_to_dict(message)
        row.pop("session", None)
        row.pop("updated_at", None)
        row["finish_reason"] = message.finish_reason or None
        row["model_name"] = names.get(message.model_id)
        row["attachments"] = [{k: a.get(k) for k in _ATTACHMENT_KEYS} for a in row["attachments"]]
        rows.append(row)
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": _iso(timezone.now()),
        "session": {
            "id": str(session.id), "title": session.title, "title_set_by_user": session.title_set_by_user,
            "active_leaf": str(session.active_leaf_id) if session.active_leaf_id else None,
            "system_prompt": session.system_prompt, "temperature": session.temperature,
            "created_at": _iso(session.created_at), "updated_at": _iso(session.updated_at),
        },
        "messages": rows,
    }


def shown_branch(session: ChatSession, messages: list[Message]) -> list[Message]:
    """The branch the session shows: from the root to its active leaf (or, without one, to
    the newest message), oldest first."""
    by_id = {m.id: m for m in messages}
    leaf = by_id.get(session.active_leaf_id) or (messages[-1] if messages else None)
    path: list[Message] = []
    seen: set[Any] = set()
    while leaf is not None and leaf.id not in seen:
        seen.add(leaf.id)
        path.append(leaf)
        leaf = by_id.get(leaf.parent_id)
    return path[::-1]


async def session_export_markdown(*, session: ChatSession, messages: list[Message]) -> str:
    """The branch shown, as Markdown: the title as a heading, then one `## User` /
    `## Assistant (model)` section per turn (tool results as `## Tool (name)`), with a line
    saying how many messages of other branches are left out."""
    names = await _model_names(messages)
    branch = shown_branch(session, messages)
    out = [f"# {session.title or 'Untitled chat'}", ""]
    for message in branch:
        if message.role == Message.Role.USER:
            heading = "## User"
        elif message.role == Message.Role.TOOL:
            heading = f"## Tool ({message.tool_name or 'result'})"
        else:
            model = names.get(message.model_id)
            heading = f"## Assistant ({model})" if model else "## Assistant"
        out += [heading, ""]
        if message.role == Message.Role.ASSISTANT and message.reasoning and not message.reasoning_hidden:
            out += ["<details><summary>Reasoning</summary>", "", message.reasoning, "", "</details>", ""]
        files = getattr(message, "attached", None) or []
        if files:
            out += ["Attached: " + ", ".join(f"`{f['name']}`" for f in files), ""]
        for call in message.tool_calls or []:
            out += [f"Tool call `{call.get('name', '')}`: `{call.get('arguments', '')}`", ""]
        if message.content:
            out += [message.content, ""]
        if message.status != Message.Status.COMPLETE:
            out += [f"*({message.status})*", ""]
    left_out = len(messages) - len(branch)
    if left_out:
        out += [f"*{left_out} message(s) of other branches are in the JSON export.*", ""]
    return "\n".join(out)


def export_filename(session: ChatSession, extension: str) -> str:
    """A file name from the title: ASCII letters, digits and dashes (`chat` when nothing is left)."""
    ascii_title = unicodedata.normalize("NFKD", session.title).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^A-Za-z0-9]+", "-", ascii_title).strip("-").lower()[:60] or "chat"
    return f"{stem}.{extension}"
