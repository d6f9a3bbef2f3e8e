"""Which assistant a reply is made with, and what it changes about the reply's model.

A send names an assistant (`"assistant": id`) or takes its session's default one; a
regenerate takes the replaced reply's; `/v1/chat/completions` takes one named as its
`model` (`assistant/<slug>`). Whichever way, it must be one the user may use
(`ai_model.selectors.assistants_usable`), else the request answers 404 (field `assistant`;
on `/v1` the unknown-model 404). A reply without an assistant costs no query here. What the
assistant then does to the reply is the runner's (`message.generation.request`, `plan`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ai_model.selectors import assistant_find_for
from ai_model.services import assistant_for_reply

if TYPE_CHECKING:
    from ai_model.models import Assistant


async def reply_assistant(*, user_id: Any, assistant_id: Any = None, default_id: Any = None) -> Assistant | None:
    """The assistant `assistant_id` names, else the default `default_id` (a session's, a
    replaced reply's), else None; cached per worker (`assistant_for_reply`). Raises NotFound
    (field `assistant`) when it is not one the user may use (a default too: the session's
    assistant may have been taken back; the session's can be cleared with PATCH)."""
    chosen = assistant_id if assistant_id is not None else default_id
    if chosen is None:
        return None
    return await assistant_for_reply(user_id=user_id, assistant_id=chosen)


def model_defaults(assistant: Assistant | None, *defaults: Any) -> list[Any]:
    """The models a reply falls back on when it names none: the assistant's first, then
    `defaults` (the session's, the replaced reply's), for `ai_model_for_reply`."""
    return [assistant.model_id, *defaults] if assistant is not None and assistant.model_id else list(defaults)


async def completion_assistant(*, user_id: Any, model_name: Any) -> Assistant | None:
    """The assistant a `/v1` model name names (`assistant/<slug>` or `assistant/<id>`) among
    those the user may use, else None: the name is then looked up as a model's (a provider
    slugged `assistant` keeps its models' names), and names none answers the unknown-model 404."""
    if not isinstance(model_name, str) or not model_name.startswith("assistant/"):
        return None
    return await assistant_find_for(user_id=user_id, name=model_name)
