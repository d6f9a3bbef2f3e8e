"""Ids from URLs and bodies."""

from __future__ import annotations

import uuid
from typing import Any

from core.errors import NotFound


def uuid_or_404(value: Any) -> uuid.UUID:
    """`value` as a UUID; anything else is an object that cannot exist (NotFound, 404)."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise NotFound() from None
