"""What the remote speech engines share: finding the engine a request names, and how to
call an OpenAI-compatible audio endpoint of its provider."""

from __future__ import annotations

import uuid

import httpx

from ai_model.models import AIModel
from ai_model.selectors import usable_models

DEFAULT_BASE_URL = "https://api.openai.com/v1"


async def remote_engine(*, purpose: str, name: str | None) -> AIModel | None:
    """The usable model of `purpose` named `name` (its model id, or its UUID); None for any
    other name, which means the local engine (so OpenAI names like `whisper-1` work)."""
    if not name:
        return None
    query = usable_models(purpose)
    found = await query.filter(model_id=name).afirst()
    if found is None:
        try:
            found = await query.filter(pk=uuid.UUID(name)).afirst()
        except ValueError:
            return None
    return found


def remote_target(model: AIModel, path: str) -> tuple[str, dict[str, str], httpx.Timeout]:
    """URL of `path` (e.g. `/audio/speech`) on the model's provider, its auth header and timeouts."""
    provider = model.provider
    url = f"{(provider.base_url or DEFAULT_BASE_URL).rstrip('/')}{path}"
    headers = {"Authorization": f"Bearer {provider.api_key}"} if provider.api_key else {}
    return url, headers, httpx.Timeout(provider.first_token_timeout_s, connect=provider.connect_timeout_s)
