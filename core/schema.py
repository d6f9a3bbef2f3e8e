"""OpenAPI pieces shared by every app: the bearer scheme and the error and health shapes.

Each endpoint documents itself with `@extend_schema` beside its view, and each output
shape is the serializer that also renders it (in its app's `serializers.py`); nothing is
patched into the document afterwards. The cookie scheme comes from drf-spectacular's
built-in extension for DRF's SessionAuthentication.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import serializers

# What the input checks enforce on text, as JSON Schema patterns: no NUL character (DRF's
# CharField refuses them), and for required text a character that `str.strip()` keeps
# (DRF trims, then refuses blank text; `speech_validate` too). The whitespace is spelled
# out because `\s` differs between regex engines (ECMA's lacks U+001C-U+001F and U+0085).
# `NO_NUL` excludes "": drf-spectacular adds its own `oneOf` branch for blank text.
SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NO_NUL = r"^[^\x00]+$"
NOT_BLANK = rf"[^{SPACE}]"
NOT_BLANK_NO_NUL = rf"^[^\x00]*[^\x00{SPACE}][^\x00]*$"


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Documents `accounts.authentication.BearerTokenAuthentication` (named by string: core imports no app)."""

    target_class = "accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <key>` (or `Token <key>`)."}


class DocumentedPattern(RegexValidator):
    """A `pattern` for the OpenAPI document that sums up checks the field already makes
    (`NO_NUL`, `NOT_BLANK`, `NOT_BLANK_NO_NUL`); it adds no check, so error messages stay."""

    def __call__(self, value: Any) -> None:
        return None


class ErrorSerializer(serializers.Serializer):
    """Every client error: a stable code, a message, and `{field: [message]}`."""

    code = serializers.CharField()
    message = serializers.CharField()
    # Usually `{field: [message]}`; nested for nested fields (`{"models": {"0": [message]}}`).
    detail = serializers.DictField()


class HealthSerializer(serializers.Serializer):
    """`/healthz` and `/readyz`: `status` (`ok` or `unavailable`) and, for readiness, each check's result."""

    status = serializers.ChoiceField(["ok", "unavailable"])
    checks = serializers.DictField(child=serializers.CharField(), required=False)
