"""Several workers need Redis: `manage.py check` (so `make run`) and the lifespan refuse without it."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from config.lifespan import LifespanMiddleware

ROOT = Path(__file__).resolve().parents[2]


def test_check_refuses_several_workers_without_redis(settings):
    settings.WORKERS, settings.REDIS_URL = 4, ""
    with pytest.raises(SystemCheckError, match="4 workers .* need REDIS_URL"):
        call_command("check")
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    call_command("check")  # no error
    settings.WORKERS, settings.REDIS_URL = 1, ""
    call_command("check")


async def test_lifespan_refuses_to_start_several_workers_without_redis(settings):
    settings.WORKERS, settings.REDIS_URL = 2, ""
    inbox: asyncio.Queue = asyncio.Queue()
    inbox.put_nowait({"type": "lifespan.startup"})
    sent = []

    async def send(message):
        sent.append(message)

    await LifespanMiddleware(None)({"type": "lifespan"}, inbox.get, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    assert "need REDIS_URL" in sent[0]["message"]


def test_make_run_with_two_workers_and_no_redis_stops_with_a_clear_message(tmp_path):
    """What a user sees: `make run WORKERS=2` without REDIS_URL (the migrate step runs the check)."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(DATA_DIR=str(tmp_path), WEB_CONCURRENCY="2")
    done = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0
    assert "(core.E001) 2 workers (WEB_CONCURRENCY) need REDIS_URL" in done.stderr
