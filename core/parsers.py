"""The API's default parser (REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]); a module of its own,
as DRF imports it while `rest_framework.views` (which `core.http` needs) is being imported."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; a body nested too deep to decode is a ParseError too (400
    `malformed_json`, field `body`: `core.errors.error_body`), not a RecursionError (500)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply") from None
