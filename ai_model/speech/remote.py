"""What the remote speech engines share: calling an OpenAI-compatible audio endpoint
(OpenAI API reference, "Audio") of a model's provider.

Which model a request names is found by `ai_model.selectors.ai_model_find`.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp

from ai_model.http import Timeouts, upstream_response
from ai_model.models import AIModel
from ai_model.providers.openai_compatible import OpenAICompatibleProvider


def remote_post(
    model: AIModel, path: str, *, json: Any = None, form: dict[str, str] | None = None,
    files: dict[str, tuple[str, bytes]] | None = None,
) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
    """`async with` the response of `POST {base_url}{path}` (e.g. `/audio/speech`) on the
    model's provider, with its key as a bearer token: a JSON body (`json`), or a
    `multipart/form-data` one of the `form` fields and the `files` (`{field: (filename, bytes)}`).

    Timeouts (seconds) come from the provider row: `connect_timeout_s` to connect,
    `first_token_timeout_s` for the answer and between its chunks. Raises
    `ProviderTimeoutError` (`timeout`), `ProviderConnectionError` (`connection_error`) and
    the status error tree (see `ai_model.http.upstream_response`).
    """
    provider = model.provider
    url = f"{(provider.base_url or OpenAICompatibleProvider.default_base_url).rstrip('/')}{path}"
    headers = {"Authorization": f"Bearer {provider.api_key}"} if provider.api_key else {}
    body: dict[str, Any] = {"json": json}
    if form is not None or files:
        data = aiohttp.FormData()
        for name, value in (form or {}).items():
            data.add_field(name, value)
        for name, (filename, content) in (files or {}).items():
            data.add_field(name, content, filename=filename, content_type="application/octet-stream")
        body = {"data": data}
    return upstream_response(
        "POST", url, name=provider.name, secret=provider.api_key, headers=headers,
        timeout=Timeouts(connect=provider.connect_timeout_s, read=provider.first_token_timeout_s), **body,
    )
