"""Base of the models that run in-process (the embedded LLM, Whisper, Piper), the fair
bounded queue of a model that generates one reply at a time (`FairTurns`), and the
runtime's set of them."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self, TypeVar

from ai_model.errors import ServerBusyError
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


class FairTurns:
    """Whose generation runs next on the single model: one at a time, and next the waiting
    user served least recently, so one user's queued replies never make another user wait
    for all of them (a newcomer waits for at most the reply running). At most
    `max_waiting` wait; past that `take` raises ServerBusyError (`model_busy`) at once.
    Lives on the event loop (not thread-safe).
    """

    def __init__(self, *, max_waiting: int) -> None:
        self.max_waiting = max_waiting
        self._busy = False
        self._queues: dict[Hashable, deque[asyncio.Future[None]]] = {}
        self._served: dict[Hashable, int] = {}  # user -> the sequence number of their last turn
        self._sequence = 0
        self.waiting = 0

    def full(self) -> bool:
        """Whether one more generation would have to wait past the bound."""
        return self._busy and self.waiting >= self.max_waiting

    async def take(self, user: Hashable) -> None:
        """Wait for this generation's turn; `give` must follow (raises ServerBusyError)."""
        if not self._busy:
            self._busy = True
            self._serve(user)
            return
        if self.waiting >= self.max_waiting:
            raise ServerBusyError(
                f"The embedded model is busy ({self.waiting} replies waiting); try again shortly.", code="model_busy",
            )
        turn = asyncio.get_running_loop().create_future()
        self._queues.setdefault(user, deque()).append(turn)
        self.waiting += 1
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.give()  # the turn came as this waiter was cancelled: pass it on
            else:
                self._forget(user, turn)
            raise

    def give(self) -> None:
        """End the running generation's turn and start the next one."""
        while self._queues:
            user = min(self._queues, key=lambda u: self._served.get(u, -1))
            queue = self._queues[user]
            turn = queue.popleft()
            self.waiting -= 1
            if not queue:
                del self._queues[user]
            if not turn.done():
                self._serve(user)
                turn.set_result(None)
                return
        self._busy = False

    def _serve(self, user: Hashable) -> None:
        self._sequence += 1
        self._served[user] = self._sequence
        if len(self._served) > 10_000:  # forget the users served longest ago
            for old in sorted(self._served, key=self._served.get)[:5_000]:
                del self._served[old]

    def _forget(self, user: Hashable, turn: asyncio.Future[None]) -> None:
        queue = self._queues.get(user)
        if queue is not None and turn in queue:
            queue.remove(turn)
            self.waiting -= 1
            if not queue:
                del self._queues[user]


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
