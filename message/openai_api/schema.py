"""The OpenAPI description of `POST /v1/chat/completions`'s body (for `/api/schema`): the
part of OpenAI's request this server reads (`wire.completion_request`), as a raw JSON
Schema, since the message kinds differ by `role` (a `oneOf`)."""

from __future__ import annotations

_TEXT = {"type": "string"}
_PARTS = {"type": "array", "items": {
    "type": "object", "required": ["type", "text"],
    "properties": {"type": {"type": "string", "enum": ["text"]}, "text": _TEXT},
}}
_CONTENT = {"oneOf": [_TEXT, _PARTS], "description": "Text, or an array of text parts (image parts: 400)"}


def _message(roles: list[str], **extra: dict) -> dict:
    required = ["role", *(name for name in extra if name != "content")]
    properties = {"role": {"type": "string", "enum": roles}, "content": _CONTENT, **extra}
    return {"type": "object", "required": required if "content" in extra else [*required, "content"],
            "properties": properties}


MESSAGE = {"oneOf": [
    _message(["system", "developer", "user"]),
    {**_message(["assistant"], content={"oneOf": [_TEXT, _PARTS], "nullable": True}),
     "description": "May carry `tool_calls` as OpenAI returned them (`[{id, type, function: {name, arguments}}]`)"},
    _message(["tool"], tool_call_id={"type": "string", "minLength": 1}),
]}

_STOP = {"type": "string", "minLength": 1}

CHAT_COMPLETION_REQUEST = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string", "minLength": 1, "description": "A name from `GET /v1/models`, a model's UUID or `model_id`"},
        "messages": {"type": "array", "minItems": 1, "items": MESSAGE},
        "stream": {"type": "boolean"},
        "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
        "store": {"type": "boolean", "description": "false: keep no content, only usage (default OPENAI_API_STORE_DEFAULT)"},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "max_tokens": {"type": "integer", "minimum": 1},
        "max_completion_tokens": {"type": "integer", "minimum": 1},
        "n": {"type": "integer", "enum": [1]},
        "stop": {"oneOf": [_STOP, {"type": "array", "maxItems": 4, "items": _STOP}]},
        "user": {"type": "string"},
        "response_format": {"type": "object", "required": ["type"],
                            "properties": {"type": {"type": "string", "enum": ["text", "json_object", "json_schema"]}}},
        "tools": {"type": "array", "items": {
            "type": "object", "required": ["type", "function"],
            "properties": {"type": {"type": "string", "enum": ["function"]}, "function": {
                "type": "object", "required": ["name"],
                "properties": {"name": {"type": "string", "minLength": 1}, "description": _TEXT,
                               "parameters": {"type": "object"}}}}}},
        "tool_choice": {"oneOf": [
            {"type": "string", "enum": ["none", "auto", "required"]},
            {"type": "object", "required": ["type", "function"], "properties": {
                "type": {"type": "string", "enum": ["function"]},
                "function": {"type": "object", "required": ["name"], "properties": {"name": _TEXT}}}},
        ]},
    },
}
