"""The runtime object: every piece of process state, created at start-up, closed at shutdown.

`Runtime()` is built by the ASGI lifespan at start-up (`config.lifespan`) and installed
as the running loop's runtime (`core.runtime`); code reaches it with `runtime()`.
Nothing else in the project keeps mutable state at module level.

    http          the pooled aiohttp.ClientSession (adapters, remote speech engines)
    upstream_slots  room in that pool, waited for with a limit of its own (ai_model/http.py)
    admission     per-user request rate, budgets and concurrent generations (message/generation/admission.py)
    redis         the Redis client, when REDIS_URL is set (event logs, cancel bus)
    adapters      provider adapters, one per Provider row, each with its breaker and probe cache
    engines       in-process models (embedded LLM, Whisper, Piper), each with its thread(s)
    rows          a few seconds' cache of API keys and models (core/cache.py)
    contexts      the contexts of the latest turns, so a long conversation is not read back
                  per send (message/context.py)
    db_threads    the threads replies and background tasks run their ORM calls on
    tool_pool     threads for synchronous tools
    password_checks  slots for password hashes at once (accounts.services.login_check)
    tool_processes  worker processes for isolated (CPU-heavy) tools, started on first use
                  and killed at a call's timeout (ai_model/tool_pool.py)
    mcp           the MCP servers' connections (stdio processes, HTTP sessions), each kept up by
                  a supervisor that restarts it with back-off (ai_model/mcp/manager.py); made
                  on first use, started at boot when MCP_START_ON_BOOT and a server is enabled
    tts_cache     the on-disk cache of synthesised speech
    images        attached images fitted to each provider's maximum, an LRU bounded in bytes
                  (ai_model/images.py)
    event_logs    the in-memory event logs of replies (when not on Redis)
    texts         the streaming replies' texts, written behind the streams in batches
    generations   running replies, their heartbeat and the cross-worker cancel listener
    background    fire-and-forget tasks (automatic titles)
    file_threads  threads that sniff, clean and read uploads (Pillow, pypdf, python-docx: files/uploads.py)
    file_sweeper  the periodic deletion of unused uploads (files/sweep.py), started by `preload`
    search_indexer  the periodic search-index update on SQLite (message/search_index.py),
                  started by `preload`
    metrics       Prometheus metrics on a registry of their own (`core.metrics`, `GET /metrics`)
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp

from django.conf import settings

from ai_model.engine import Engines
from ai_model.http import UpstreamSlots, http_client_create
from ai_model.images import image_cache_create
from ai_model.providers.registry import AdapterCache
from ai_model.tool_pool import ToolProcessPool
from ai_model.speech.tts import SpeechCache
from core.metrics import Metrics
from core.cache import row_cache_create
from core.db import DbThreads
from core.redis import redis_client_create, redis_enabled
from core.tasks import BackgroundTasks
from files.sweep import FileSweeper
from message.context import context_cache_create
from message.generation.admission import Admission
from message.generation.registry import GenerationRegistry
from message.generation.texts import TextWriter
from message.search_index import SearchIndexer
from message.streaming.log import EventLogStore

logger = logging.getLogger(__name__)


class Runtime:
    """Process state of one worker (one event loop). Build it inside the running loop."""

    def __init__(self) -> None:
        self.metrics = Metrics()
        self._http: aiohttp.ClientSession | None = None
        self.redis = redis_client_create() if redis_enabled() else None
        self.upstream_slots = UpstreamSlots(settings.UPSTREAM_POOL_SIZE)
        self.admission = Admission()
        self.adapters = AdapterCache()
        self.engines = Engines()
        self.db_threads = DbThreads(settings.DB_THREADS)
        self.rows = row_cache_create()
        self.contexts = context_cache_create()
        self.tool_pool = ThreadPoolExecutor(max_workers=settings.TOOL_THREADS, thread_name_prefix="tool")
        # Taken by the request threads that check passwords (a thread lock: they wait off the loop).
        self.password_checks = threading.BoundedSemaphore(settings.AUTH_HASH_CONCURRENCY)
        self.tool_processes = ToolProcessPool(workers=settings.TOOL_PROCESSES, memory_mb=settings.TOOL_WORKER_MEMORY_MB)
        self.tts_cache = SpeechCache()
        self.images = image_cache_create()
        self._mcp: Any = None
        self.event_logs = EventLogStore()
        self.texts = TextWriter()
        self.generations = GenerationRegistry()
        self.background = BackgroundTasks()
        # CPU and memory of uploads (a 50-megapixel decode, a PDF's text) are bounded by these few threads.
        self.file_threads = ThreadPoolExecutor(max_workers=settings.FILE_PROCESS_THREADS, thread_name_prefix="file")
        self.file_sweeper = FileSweeper()
        self.search_indexer = SearchIndexer()
        self.closed = False

    @property
    def http(self) -> aiohttp.ClientSession:
        """The pooled HTTP client, made on first use (a process that never calls an upstream has none)."""
        if self._http is None:
            if self.closed:
                raise RuntimeError("the runtime is closed")
            self._http = http_client_create()
        return self._http

    @http.setter
    def http(self, value: aiohttp.ClientSession) -> None:
        self._http = value

    @property
    def mcp(self) -> Any:
        """The MCP connections (`ai_model.mcp.manager.MCPManager`), made on first use: a
        worker whose models use no MCP server never imports the SDK."""
        if self._mcp is None:
            if self.closed:
                raise RuntimeError("the runtime is closed")
            from ai_model.mcp.manager import MCPManager

            self._mcp = MCPManager()
        return self._mcp

    async def _mcp_boot(self) -> None:
        """Start the enabled MCP servers (MCP_START_ON_BOOT), so the first reply finds them up."""
        from ai_model.mcp.selectors import mcp_servers_enabled

        specs = await mcp_servers_enabled()
        if specs and not self.closed:
            self.mcp.start_all(specs)

    def preload(self) -> None:
        """Start loading the embedded chat model and the speech models on their own
        threads (as settings ask), so the first request does not pay for it, and the
        discovery of local runtimes as a background task (`DISCOVERY_ON_START`,
        `ai_model.discovery`), the periodic sweep of unused uploads (`files.sweep`) and the
        periodic search-index update (`message.search_index`).
        Returns at once; call it inside the running loop."""
        from ai_model.discovery import local_runtimes_discover_logged
        from ai_model.providers.local import LocalEngine, runtime_available

        self.file_sweeper.start()
        self.search_indexer.start()
        if settings.DISCOVERY_ON_START and settings.LOCAL_RUNTIMES.strip():
            self.background.spawn(local_runtimes_discover_logged(), name="local-runtime-discovery")
        if settings.MCP_START_ON_BOOT:
            self.background.spawn(self._mcp_boot(), name="mcp-boot")
        from ai_model.speech.asr import LocalWhisper
        from ai_model.speech.tts import LocalPiper

        engines: list[type] = []
        if settings.LOCAL_MODEL_PRELOAD and runtime_available():
            engines.append(LocalEngine)
        if settings.SPEECH_PRELOAD:
            engines += [LocalWhisper, LocalPiper]
        for cls in engines:
            try:
                self.engines.get(cls).load_in_background()
            except Exception as exc:  # a missing package only logs; the request will say why
                logger.warning("cannot preload %s: %s", cls.__name__, exc)

    async def close(self, *, grace_s: float = 0.0) -> None:
        """Shut down: running replies get `grace_s` to finish and the rest are stored
        `interrupted`; then background tasks settle and every client, pool and engine closes."""
        if self.closed:
            return
        self.closed = True
        steps = (
            lambda: self.generations.drain(grace_s=grace_s),
            self.file_sweeper.close,
            self.search_indexer.close,
            *((self._mcp.close,) if self._mcp is not None else ()),
            self.background.settle,
            self.admission.close,
            self.texts.drain,
            self.db_threads.close,
            self.tool_processes.close,
            *((self._http.close,) if self._http is not None else ()),
            *((self.redis.aclose,) if self.redis is not None else ()),
        )
        for step in steps:
            try:
                await step()
            except Exception:
                logger.exception("error during shutdown")
        self.tool_pool.shutdown(wait=False, cancel_futures=True)
        self.file_threads.shutdown(wait=False, cancel_futures=True)
        self.engines.close()
        self.tts_cache.close()
        self.images.clear()
        self.event_logs.clear()
        self.contexts.clear()
        self.adapters.clear()
