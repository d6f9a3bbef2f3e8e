"""llama.cpp's HTTP server (`llama-server`, or `python -m llama_cpp.server`).

Wire format (llama.cpp `tools/server/README.md`): OpenAI-compatible
`POST /v1/chat/completions` (streamed as in `openai_compatible`), `GET /v1/models`,
and `GET /health` (200 when a model is loaded, 503 while loading). `base_url` is the
server root (`http://127.0.0.1:8080`); a trailing `/v1` is accepted too.

Images (llama.cpp `docs/multimodal.md` and `tools/server/README.md`, "POST
/v1/chat/completions", https://github.com/ggml-org/llama.cpp/blob/master/docs/multimodal.md):
a server started with a multimodal projector (`--mmproj`) takes OpenAI's `image_url`
content parts with base64 data URLs, sent as `openai_compatible` sends them. How many
pixels the model sees depends on the projector, which resizes by itself (336 to 896 px
for the common LLaVA, Gemma 3 and Qwen2.5-VL projectors, about a megapixel at most for
Qwen2.5-VL's dynamic resolution): images are fitted to a long side of 1024, so nothing
the model could use is lost and a local server is not sent a 12-megapixel photo to decode.
"""

from __future__ import annotations

from ai_model.errors import NotFoundError
from ai_model.providers.openai_compatible import OpenAICompatibleProvider


class LlamaCppProvider(OpenAICompatibleProvider):
    """Adapter for a llama.cpp server."""

    kind = "llamacpp"
    default_base_url = "http://127.0.0.1:8080"
    image_max_edge = 1024
    image_max_bytes = None

    @property
    def root_url(self) -> str:
        """The server root: `base_url` without a trailing `/v1`."""
        return self.base_url.removesuffix("/v1")

    def chat_url(self) -> str:
        """`{root}/v1/chat/completions`."""
        return f"{self.root_url}/v1/chat/completions"

    async def list_models(self) -> list[str]:
        """Ids from `GET /v1/models` (`{"data": [{"id"}]}`)."""
        body = await self.get_json(f"{self.root_url}/v1/models")
        return [m["id"] for m in body.get("data", [])]

    async def _probe(self) -> bool:
        try:
            await self.get_json(f"{self.root_url}/health")
        except NotFoundError:
            # llama_cpp.server (the Python one) has no /health; its model list is as cheap.
            await self.list_models()
        return True
