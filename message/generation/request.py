"""What one model call of a reply asks for (`ChatRequest`), and the tools a reply may use.

An assistant (`ai_model.Assistant`) shapes both: its system prompt goes first, before the
conversation, in every request (it is a property of the request, never a stored turn, so
the kept contexts of `message.context` never hold it); its temperature and max tokens
override the model's; its strategy and allowed tools decide the tools (`reply_tools`). A
client that runs its own tools (`turn.ClientTurn`) offers its own, and its explicit
sampling options win over the assistant's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ai_model.tools import Tool, tools_allowed, tools_for_reply
from ai_model.types import ChatMessage, ChatRequest
from message.generation.turn import ClientTurn

if TYPE_CHECKING:
    from ai_model.models import AIModel, Assistant


async def reply_tools(model: AIModel, assistant: Assistant | None, client: ClientTurn | None = None) -> dict[str, Tool]:
    """The tools a reply of `model` may offer and run, by name: none for a client's reply (it
    runs its own) or a `chat` assistant's; for an assistant, the built-ins and MCP tools it
    allows (`ai_model.tools.tools_for_reply` with its MCP names as the allow-list, then
    `tools_allowed`: the one filter); else the model's (`tools_for_reply`: the built-ins and
    its MCP servers' tools). None at all unless the model supports tools."""
    if client is not None:
        return {}
    if assistant is None:
        return await tools_for_reply(model=model)
    if assistant.strategy == assistant.Strategy.CHAT:
        return {}
    allowed = list(assistant.tools or ())
    registry = await tools_for_reply(model=model, servers=[name for name in allowed if "__" in name])
    return tools_allowed(registry, allowed)


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """A session's own settings of its replies (`ChatSession.system_prompt`, `temperature`)."""

    system_prompt: str = ""
    temperature: float | None = None

    @classmethod
    def of(cls, session: Any) -> ChatSettings | None:
        """The settings of `session` (a `ChatSession` row), None when it has none."""
        if session is None or (not session.system_prompt.strip() and session.temperature is None):
            return None
        return cls(session.system_prompt, session.temperature)


def system_turn(assistant: Assistant | None, chat: ChatSettings | None = None) -> ChatMessage | None:
    """The request's first turn: the assistant's system prompt, then (after a blank line) the
    chat's own; one object per reply, so an adapter that keeps a turn's encoding encodes it
    once. None when neither has one."""
    parts = [p for p in (assistant.system_prompt if assistant else "", chat.system_prompt if chat else "") if p.strip()]
    return ChatMessage("system", "\n\n".join(parts)) if parts else None


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def chat_request(
    model: AIModel, context: list[ChatMessage], *, tools: dict[str, Tool] | None, user: Any = None,
    client: ClientTurn | None = None, assistant: Assistant | None = None, system: ChatMessage | None = None,
    chat: ChatSettings | None = None,
) -> ChatRequest:
    """The request of one model call to `context`: `system` first, then `context`; `tools`
    offered when given and the model supports tools (a client's own tools instead); the
    temperature: the client's over the chat's over the assistant's over the model's."""
    messages = [system, *context] if system is not None else context
    temperature = _first(chat.temperature if chat else None, assistant.temperature if assistant else None,
                         model.temperature)
    max_tokens = _first(assistant.max_tokens if assistant else None, model.max_tokens)
    reasoning = {"reasoning": model.reasons, "reasoning_effort": model.reasoning_effort or None,
                 "thinking_budget": model.thinking_budget_tokens}
    if client is not None:
        return ChatRequest(
            model=model.model_id, messages=messages, temperature=_first(client.temperature, temperature),
            max_tokens=_first(client.max_tokens, max_tokens), tools=list(client.tools),
            tool_choice=client.tool_choice if client.tools else None, response_format=client.response_format,
            stop=client.stop, user=user, **reasoning,
        )
    specs = [t.spec for t in tools.values()] if tools and model.supports_tools else []
    return ChatRequest(
        model=model.model_id, messages=messages, temperature=temperature, max_tokens=max_tokens, tools=specs, user=user,
        **reasoning,
    )
