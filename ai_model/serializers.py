from __future__ import annotations

from typing import Any

from ai_model.models import AIModel


def ai_model_to_dict(model: AIModel, *, is_available: bool) -> dict[str, Any]:
    """A model as `GET /api/models` lists it (API.md). Never includes provider secrets."""
    return {
        "id": str(model.id),
        "name": model.display_name,
        "model_id": model.model_id,
        "provider": model.provider.name,
        "kind": model.provider.kind,
        "capabilities": {"streaming": True, "tools": model.supports_tools},  # every adapter streams
        "is_available": is_available,
    }
