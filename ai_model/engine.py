"""Base of the models that run in-process (the embedded LLM, Whisper, Piper)."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Self

logger = logging.getLogger(__name__)


class InProcessModel:
    """One instance per process (`get()`), loaded lazily by `_load()` on its own worker
    thread(s): blocking C code never runs on the event loop, and the executor's queue
    bounds how many calls run at once."""

    _instance: ClassVar[Any] = None
    _instance_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, *, workers: int, thread_name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=thread_name)

    @classmethod
    def _create(cls) -> Self:
        """Build the instance (not yet loaded); raise if it cannot exist on this machine."""
        raise NotImplementedError

    @classmethod
    def get(cls) -> Self:
        """The instance of this process, created on first call."""
        with cls._instance_lock:
            if cls.__dict__.get("_instance") is None:
                cls._instance = cls._create()
            return cls._instance

    def _load(self) -> Any:
        """Load the model (on a worker thread); return it."""
        raise NotImplementedError

    def load_in_background(self) -> None:
        """Queue the load on the model's thread and return at once (start-up preload)."""
        self._executor.submit(self._load).add_done_callback(
            lambda f: f.exception() and logger.warning("preloading %s failed: %s", type(self).__name__, f.exception())
        )

    def warm_up(self) -> None:
        """Load the model now (blocking)."""
        self._executor.submit(self._load).result()
