"""The replies running in this process: registry, heartbeat, cancel bus and drain.

A generation is an asyncio task owned by the worker (the runtime's `GenerationRegistry`),
keyed by every message id it creates, not by the HTTP response or socket that started
it: clients only follow the reply's event log, so a client that goes away does not stop
the reply. A heartbeat touches `updated_at` of every generating message, so a message
left `streaming` by a dead worker can be told apart (`store.message_recover_stale`), and
pushes on the expiry of their Redis event logs.
With Redis, a cancel published on `CANCEL_CHANNEL` reaches the worker running the reply.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from core.db import db_release
from core.redis import redis_client, redis_enabled
from core.runtime import runtime
from core.tasks import BackgroundTasks
from message.generation.admission import Slots
from message.generation.publisher import Publisher
from message.generation.store import ReplyStore, Status
from message.generation.turn import Turn
from message.streaming.log import EventLog, event_logs_keep

logger = logging.getLogger(__name__)

CANCEL_CHANNEL = "chat:cancel"


@dataclass
class Generation:
    """A running (or just finished) reply: its log, its task and the messages it made."""

    message_id: uuid.UUID
    log: EventLog
    publisher: Publisher
    task: asyncio.Task | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    message_ids: list[uuid.UUID] = field(default_factory=list)
    #: Status stored when the task is cancelled: `cancelled` (user) or `interrupted` (shutdown).
    stop_status: str = Status.CANCELLED
    #: The turn being streamed, so a cancelled task still stores what arrived.
    turn: Turn | None = None
    #: The user's concurrent-generation slot it holds (`admission.Slots`, slot id), freed
    #: when it leaves the registry.
    slot: tuple[Slots, str] | None = None
    #: Whose reply it is (the session owner's id), when known.
    user_id: Any = None

    @property
    def current_id(self) -> uuid.UUID:
        return self.message_ids[-1]

    #: Set by the first `stop()`; later ones change nothing.
    stopping: bool = False

    def stop(self, status: str = Status.CANCELLED) -> None:
        """Cancel the task once; the reply is stored with `status` and the text so far."""
        if self.task is not None and not self.task.done() and not self.stopping:
            self.stopping = True
            self.stop_status = status
            self.task.cancel()


class GenerationRegistry:
    """Running generations of this process by message id, and their background tasks."""

    def __init__(self) -> None:
        self._running: dict[uuid.UUID, Generation] = {}
        self._background = BackgroundTasks()
        self._started = False

    def add(self, generation: Generation, message_id: uuid.UUID) -> None:
        """Register `message_id` (a message the generation created) and start the heartbeat."""
        if not generation.message_ids:
            runtime().metrics.generations_running.inc()
        generation.message_ids.append(message_id)
        self._running[message_id] = generation
        if not self._started:
            self._started = True
            self._background.spawn(self._heartbeat(), name="generation-heartbeat")
            if redis_enabled():
                self._background.spawn(self._cancel_listener(), name="generation-cancel")

    def remove(self, generation: Generation) -> None:
        """Take a finished generation out (all its message ids) and free its slot."""
        if any([self._running.pop(message_id, None) for message_id in generation.message_ids]):
            runtime().metrics.generations_running.dec()
        if generation.slot is not None:
            slots, slot_id = generation.slot
            generation.slot = None
            slots.release(slot_id)

    def get(self, message_id: uuid.UUID) -> Generation | None:
        """The generation that made (or is making) a message in this process, or None."""
        return self._running.get(message_id)

    def running(self) -> list[Generation]:
        return list({id(g): g for g in self._running.values()}.values())

    def message_ids(self) -> list[uuid.UUID]:
        """Every message id of every running generation."""
        return list(self._running)

    def current_ids(self) -> list[uuid.UUID]:
        """Ids of the messages generating right now in this process."""
        return [g.current_id for g in self.running()]

    async def cancel(self, message_id: uuid.UUID) -> bool:
        """Ask the generation of `message_id` to stop, here or (with Redis) on any worker.
        Returns True when this process stopped it, False when the request was only published."""
        generation = self._running.get(message_id)
        if generation is not None:
            generation.stop()
            return True
        if redis_enabled():
            await redis_client().publish(CANCEL_CHANNEL, str(message_id))
        return False

    async def drain(self, *, grace_s: float) -> None:
        """Graceful shutdown: let running replies finish for `grace_s` seconds, then store
        the rest as `interrupted` with their text; stop the background tasks."""
        tasks = [g.task for g in self.running() if g.task is not None and not g.task.done()]
        if tasks:
            logger.info("waiting up to %.0f s for %d running replies", grace_s, len(tasks))
            await asyncio.wait(tasks, timeout=grace_s)
        for generation in self.running():
            generation.stop(Status.INTERRUPTED)
        remaining = [t for t in tasks if not t.done()]
        if remaining:
            await asyncio.wait(remaining, timeout=10)
        await self._background.cancel()
        self._started = False

    async def _heartbeat(self) -> None:
        store = ReplyStore()
        while True:
            await asyncio.sleep(settings.GENERATION_HEARTBEAT_S)
            running = self.running()
            if not running:
                continue
            try:
                await store.heartbeat([g.current_id for g in running])
                await db_release()
            except Exception:
                logger.exception("heartbeat failed")
            try:
                await runtime().admission.keep([g.slot[0] for g in running if g.slot is not None])
            except Exception as exc:  # Redis down: leases run out, the replies go on
                logger.warning("generation slots not renewed: %s: %s", type(exc).__name__, exc)
            try:
                await event_logs_keep([g.log for g in running])
            except Exception as exc:  # Redis down: the reply goes on (see Publisher.log_lost)
                logger.warning("event log expiry not refreshed: %s: %s", type(exc).__name__, exc)

    async def _cancel_listener(self) -> None:
        """Cancel requests published by other workers (Redis pub/sub)."""
        while True:
            try:
                pubsub = redis_client().pubsub()
                await pubsub.subscribe(CANCEL_CHANNEL)
                async for item in pubsub.listen():
                    if item.get("type") != "message":
                        continue
                    generation = self._running.get(uuid.UUID(item["data"].decode()))
                    if generation is not None:
                        generation.stop()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("cancel listener failed; retrying")
                await asyncio.sleep(1)


def generations() -> GenerationRegistry:
    """The runtime's registry."""
    return runtime().generations
