"""Base of the models that run in-process (the embedded LLM, Whisper, Piper), and the
runtime's set of them."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self, TypeVar

from core.runtime import runtime

logger = logging.getLogger(__name__)

_END = object()
E = TypeVar("E", bound="InProcessModel")


class InProcessModel:
    """One instance per runtime (`get()`), loaded lazily by `_load()` on its own worker
    thread(s): blocking C code never runs on the event loop, and the executor's queue
    bounds how many calls run at once."""

    def __init__(self, *, workers: int, thread_name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=thread_name)

    @classmethod
    def _create(cls) -> Self:
        """Build the instance (not yet loaded); raise if it cannot exist on this machine.
        Subclasses whose `__init__` takes arguments override it."""
        return cls()  # type: ignore[call-arg]

    @classmethod
    def get(cls) -> Self:
        """The running runtime's instance, created on first call."""
        return runtime().engines.get(cls)

    def _load(self) -> Any:
        """Load the model (on a worker thread); return it."""
        raise NotImplementedError

    def load_in_background(self) -> None:
        """Queue the load on the model's thread and return at once (start-up preload)."""
        self._executor.submit(self._load).add_done_callback(
            lambda f: f.exception() and logger.warning("preloading %s failed: %s", type(self).__name__, f.exception())
        )

    async def warm_up(self) -> None:
        """Load the model now, on its thread; raises what loading raises."""
        await self.run(self._load)

    async def run(self, func: Callable[..., Any], *args: Any) -> Any:
        """`func(*args)` on the model's thread(s), awaited."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    async def stream(self, produce: Callable[..., None], *args: Any) -> AsyncIterator[Any]:
        """Items that `produce(*args, put, cancel)` hands to `put` on the model's thread.

        The bridge from a blocking producer to the event loop: `put(item)` queues an item
        (an `Exception` is raised here instead of yielded), `cancel` (a threading.Event)
        is set when the consumer stops early, and the producer's return ends the stream.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancel = threading.Event()

        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is gone (shutdown): nobody is listening
                cancel.set()

        def run() -> None:
            try:
                produce(*args, put, cancel)
            except Exception as exc:  # surfaced to the event loop
                put(exc)
            finally:
                put(_END)

        loop.run_in_executor(self._executor, run)
        try:
            while (item := await queue.get()) is not _END:
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            cancel.set()

    def close(self) -> None:
        """Stop taking work; queued calls are dropped, a running one finishes on its thread."""
        self._executor.shutdown(wait=False, cancel_futures=True)


class Engines:
    """The runtime's in-process models, one instance per class, closed with the runtime."""

    def __init__(self) -> None:
        self._instances: dict[type, InProcessModel] = {}
        self._lock = threading.Lock()

    def get(self, cls: type[E]) -> E:
        """The instance of `cls`, built by `cls._create()` on first use."""
        with self._lock:
            instance = self._instances.get(cls)
            if instance is None:
                instance = self._instances[cls] = cls._create()
            return instance  # type: ignore[return-value]

    def close(self) -> None:
        """Close every instance (see `InProcessModel.close`) and forget them."""
        with self._lock:
            for instance in self._instances.values():
                instance.close()
            self._instances.clear()
