"""What the remote speech engines share: calling an OpenAI-compatible audio endpoint
(OpenAI API reference, "Audio") of a model's provider.

Which model a request names is found by `ai_model.selectors.ai_model_find`.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx

from ai_model.http import upstream_response
from ai_model.models import AIModel
from ai_model.providers.openai_compatible import OpenAICompatibleProvider


def remote_post(model: AIModel, path: str, **kwargs: Any) -> AbstractAsyncContextManager[httpx.Response]:
    """`async with` the response of `POST {base_url}{path}` (e.g. `/audio/speech`) on the
    model's provider, with its key as a bearer token; `kwargs` (json, data, files) go to httpx.

    Timeouts (seconds) come from the provider row: `connect_timeout_s` to connect,
    `first_token_timeout_s` for the answer and between its chunks. Raises
    `ProviderTimeoutError` (`timeout`), `ProviderConnectionError` (`connection_error`) and
    the status error tree (see `ai_model.http.upstream_response`).
    """
    provider = model.provider
    url = f"{(provider.base_url or OpenAICompatibleProvider.default_base_url).rstrip('/')}{path}"
    headers = {"Authorization": f"Bearer {provider.api_key}"} if provider.api_key else {}
    return upstream_response(
        "POST", url, name=provider.name, secret=provider.api_key, headers=headers,
        timeout=httpx.Timeout(provider.first_token_timeout_s, connect=provider.connect_timeout_s), **kwargs,
    )
