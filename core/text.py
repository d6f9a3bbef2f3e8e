"""Text on its way into the database."""

from __future__ import annotations

from typing import Any


def nul_free(text: str) -> str:
    """`text` without NUL characters (`\\x00`), which PostgreSQL refuses in text and JSON
    columns. Cheap when there is none (one scan, no copy): it is on every stored reply."""
    return text.replace("\x00", "") if "\x00" in text else text


def nul_free_json(value: Any) -> Any:
    """`value` (decoded JSON: dicts, lists, strings, numbers) with NUL taken out of every
    string, keys included (a copy of the containers; strings without NUL are not copied)."""
    if isinstance(value, str):
        return nul_free(value)
    if isinstance(value, dict):
        return {nul_free(k) if isinstance(k, str) else k: nul_free_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [nul_free_json(v) for v in value]
    return value
