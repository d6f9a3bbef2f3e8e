"""Fixtures of the message tests: the app on a real loopback server."""

from __future__ import annotations

import httpx
import pytest

from accounts.services import api_token_create
from tests.fakes import serve


@pytest.fixture
def live_url():
    from config.asgi import application

    with serve(application) as url:
        yield url


@pytest.fixture
async def live_client(live_url, user):
    _, key = await api_token_create(user=user)
    async with httpx.AsyncClient(base_url=live_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        yield client
