"""The process pool for isolated (CPU-heavy) tools: a runaway call is killed, not waited for.

pebble's `ProcessPool` runs each call in a worker process. At the call's timeout the pool
terminates that worker and starts a fresh one, so the work stops, not just the wait, and
the computation never holds this process's GIL, so the event loop keeps serving.

Workers come from a `forkserver`: forking this process (which has threads) is unsafe, and
`spawn` would start a new interpreter for every replacement worker. The fork server is a
small single-threaded process that imported the tool modules once; a replacement forks
from it in milliseconds. Workers reset SIGTERM to its default action (pebble's handler
would only run between bytecodes, after a long C computation such as a big power), keep
BLAS single-threaded, and may get an address-space limit (`TOOL_WORKER_MEMORY_MB`), so a
huge allocation fails with MemoryError inside the worker.

The pool belongs to the runtime (`runtime().tool_processes`); it starts on the first
isolated call, on a thread (starting processes blocks), and closes with the runtime.
Functions run here must be module-level (they are pickled by name) and must not touch the
ORM: the workers have no Django app registry.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections.abc import Callable
from typing import Any

# Imported once by the fork server, so every worker starts with them.
_FORKSERVER_PRELOAD = ["ai_model.tools", "simpleeval"]


def _worker_init(memory_mb: int) -> None:
    """Runs in each worker before its first task (after pebble's own set-up)."""
    # Die at once on the pool's SIGTERM, even in the middle of a C computation.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # One thread per worker for numeric libraries (pint imports numpy when present).
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    if memory_mb > 0:
        import resource

        limit = memory_mb * 1024 * 1024
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))


def _noop() -> int:
    return os.getpid()


class ToolProcessPool:
    """A lazily started pebble `ProcessPool` of `workers` processes, each limited to
    `memory_mb` MB of address space (0: no limit). `await started()` (optional: `run`
    starts it too), `await run(func, kwargs, timeout_s=)`, and `await close()` at shutdown."""

    def __init__(self, *, workers: int, memory_mb: int) -> None:
        self.workers = workers
        self.memory_mb = memory_mb
        self._pool: Any = None
        self._starting: asyncio.Future[Any] | None = None
        self.closed = False

    async def started(self) -> Any:
        """The running pool, started (or replaced, when broken) on first need. One start at
        a time, shared by every caller and shielded: a caller that gives up does not abandon it.
        Raises RuntimeError when closed, or what starting the workers raised."""
        if self._pool is not None and self._pool.active:
            return self._pool
        if self.closed:
            raise RuntimeError("the tool process pool is closed")
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._replace())
        return await asyncio.shield(self._starting)

    async def _replace(self) -> Any:
        try:
            old, self._pool = self._pool, None
            if old is not None:  # broken (e.g. every worker died at once)
                await asyncio.to_thread(_stop, old)
            # Starting the fork server and the workers blocks: not on the event loop.
            pool = await asyncio.to_thread(self._start)
            if self.closed:
                await asyncio.to_thread(_stop, pool)
                raise RuntimeError("the tool process pool is closed")
            self._pool = pool
            return pool
        finally:
            self._starting = None

    def _start(self) -> Any:
        from pebble import ProcessPool

        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_FORKSERVER_PRELOAD)
        pool = ProcessPool(max_workers=self.workers, initializer=_worker_init, initargs=(self.memory_mb,), context=context)
        try:
            pool.schedule(_noop).result(timeout=60)  # starts the pool (and the fork server) here, off the loop
        except BaseException:
            _stop(pool)
            raise
        return pool

    async def run(self, func: Callable[..., Any], kwargs: dict[str, Any], *, timeout_s: float) -> Any:
        """`func(**kwargs)` in a worker. Raises what `func` raised, TimeoutError when it ran
        longer than `timeout_s` (the worker is killed), `pebble.ProcessExpired` when the
        worker died, RuntimeError when the pool is closed. Cancelling the await kills a
        running call's worker too."""
        pool = await self.started()
        future = pool.schedule(func, kwargs=kwargs, timeout=timeout_s)
        return await asyncio.wrap_future(future)

    async def close(self) -> None:
        """Stop the workers (running calls are abandoned). Idempotent."""
        self.closed = True
        if self._starting is not None:
            await asyncio.gather(self._starting, return_exceptions=True)
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(_stop, pool)


def _stop(pool: Any) -> None:
    pool.stop()
    pool.join(timeout=10)
