"""The names models see for MCP tools: `<server>__<tool>`, within every provider's limits
(OpenAI and Anthropic: `^[a-zA-Z0-9_-]{1,64}$`; Gemini also wants a letter first, which a
server name guarantees)."""

from __future__ import annotations

import hashlib
import re

#: The separator between a server's name and its tool's (server names never contain it).
SEPARATOR = "__"
NAME_MAX = 64
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]")


def exposed_name(server: str, tool: str, *, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """`server__tool` with characters outside `[A-Za-z0-9_-]` replaced by `_`. A name that
    had to change (a character replaced, longer than 64 characters) or that is in `taken`
    ends in `_` and 8 hex digits of the original tool name's SHA-256, cut to 64 characters."""
    plain = f"{server}{SEPARATOR}{_NOT_ALLOWED.sub('_', tool)}"
    if plain == f"{server}{SEPARATOR}{tool}" and len(plain) <= NAME_MAX and plain not in taken:
        return plain
    digest = hashlib.sha256(tool.encode("utf-8")).hexdigest()
    for start in range(0, len(digest) - 8):
        suffix = f"_{digest[start:start + 8]}"
        name = plain[:NAME_MAX - len(suffix)] + suffix
        if name not in taken:
            return name
    raise ValueError(f"no free name for {server}/{tool}")


def server_of(name: str) -> str | None:
    """The server part of an exposed name, or None for a name without the separator (a built-in)."""
    server, sep, _ = name.partition(SEPARATOR)
    return server if sep else None
