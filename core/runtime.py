"""Where code finds the process's runtime object (`config.runtime.Runtime`).

All process state (HTTP and Redis clients, running generations, event logs, provider
adapters with their breakers, thread pools, in-process model engines, caches) lives in
one runtime object, created at ASGI lifespan start-up and closed at shutdown. This
module only holds it: `core` imports no app, so the class is named by the setting
`RUNTIME_CLASS` and the object is typed loosely here.

A runtime belongs to one event loop (its clients and tasks do). A production worker
has one loop and so one runtime; a test, a management command or a server thread in a
test runs its own loop and gets its own runtime. `runtime()` returns the running
loop's, creating it on first use where no lifespan started one (Django's test client,
`manage.py` commands), so code never checks which loop it is on.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

# The one slot: loop -> its runtime. Weak keys, so a finished loop's entry goes with it.
_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def runtime() -> Any:
    """The runtime of the running event loop (created on first use). Raises RuntimeError
    outside an event loop."""
    loop = asyncio.get_running_loop()
    current = _by_loop.get(loop)
    if current is None:
        current = _by_loop[loop] = import_string(settings.RUNTIME_CLASS)()
        logger.debug("runtime created on first use for loop %r", loop)
    return current


def runtime_install(value: Any) -> None:
    """Make `value` the running loop's runtime (lifespan start-up, test fixtures)."""
    _by_loop[asyncio.get_running_loop()] = value


def runtime_uninstall(value: Any) -> None:
    """Forget `value` if it is the running loop's runtime (after closing it)."""
    loop = asyncio.get_running_loop()
    if _by_loop.get(loop) is value:
        del _by_loop[loop]
