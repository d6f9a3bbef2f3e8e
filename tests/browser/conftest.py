"""The harness of the browser tests: the project's ASGI app and a scripted OpenAI-compatible
upstream on loopback, Debian's Chromium driven by Playwright, a logged-in page that records
every `pageerror`, console error and dialog (a test fails on any, see `Browser.check`), and
screenshots of the main views.

Every test module here is skipped, saying why, without the `playwright` package or
`/usr/bin/chromium` (`.ci/run` installs it with apt-get; Playwright cannot download its own
browsers here, so it is pointed at the system one).

Screenshots go to `$SCREENSHOT_DIR` (default `artifacts/screenshots/` in the checkout,
ignored by git): `await live.screenshot(page, "desktop-chat")`.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from tests.ai_model.upstream import ScriptedUpstream
from tests.fakes import serve

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOT_DIR = Path(os.environ.get("SCREENSHOT_DIR", Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"))
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
SEND_IDLE = re.compile("^Send$")


def pytest_collection_modifyitems(config, items):
    reasons = []
    if importlib.util.find_spec("playwright") is None:
        reasons.append("the playwright package is not installed (requirements-dev.txt)")
    if not os.access(CHROMIUM, os.X_OK):
        reasons.append(f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    if reasons:
        skip = pytest.mark.skip(reason="; ".join(reasons))
        here = Path(__file__).parent
        for item in items:
            if Path(str(item.fspath)).parent == here:
                item.add_marker(skip)


@dataclass
class Live:
    """A live app on loopback (`url`), its scripted upstream (`upstream`, `upstream_url`) and
    one Chromium (`browser`). `problems` collects, over every page it opened, each page
    error, console error (the favicon aside) and dialog; `check()` asserts there was none."""

    url: str
    upstream: ScriptedUpstream
    upstream_url: str
    browser: Any
    problems: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    async def page(self, *, username: str = "alice", password: str = "alice-pass-123", viewport: dict | None = None,
                   color_scheme: str = "light", login: bool = True) -> Any:
        """A new browser context and page (logged in as `username` through the login form)."""
        context = await self.browser.new_context(base_url=self.url, viewport=viewport or DESKTOP, color_scheme=color_scheme)
        page = await context.new_page()
        self.watch(page)
        if login:
            await page.goto("/login/")
            await page.fill("#id_username", username)
            await page.fill("#id_password", password)
            async with page.expect_navigation():
                await page.click("button[type=submit]")
        return page

    def watch(self, page: Any) -> None:
        """Record the page's errors, console errors and dialogs into `problems`."""
        page.on("console", lambda m: m.type == "error" and not m.location["url"].endswith("/favicon.ico")
                and self.problems.append(f"console: {m.text} at {m.location['url']}"))
        page.on("pageerror", lambda e: self.problems.append(f"pageerror: {e}"))
        page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss()))

    def check(self) -> None:
        """Fail on any recorded problem not matched by a pattern in `allowed`."""
        left = [p for p in self.problems if not any(a.search(p) for a in self.allowed)]
        assert left == [], left

    async def screenshot(self, page: Any, name: str) -> Path:
        """Save a full-page PNG of `page` as `<SCREENSHOT_DIR>/<name>.png`."""
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOT_DIR / f"{name}.png"
        await page.screenshot(path=str(path), full_page=False)
        return path

    async def idle(self, page: Any, timeout: float = 15_000) -> None:
        """Wait until no reply streams (the Send button says Send again)."""
        await page.locator("#send", has_text=SEND_IDLE).wait_for(timeout=timeout)


@pytest.fixture
async def live(transactional_db) -> AsyncIterator[Live]:
    """The app and a scripted upstream on loopback, alice (password `alice-pass-123`) as a
    user, and one Chromium; fails the test on any page error, console error or dialog."""
    from playwright.async_api import async_playwright

    from config.asgi import application

    upstream = ScriptedUpstream()
    with serve(upstream) as upstream_url, serve(application) as app_url:
        await get_user_model().objects.acreate_user(username="alice", password="alice-pass-123")
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                harness = Live(url=app_url, upstream=upstream, upstream_url=upstream_url, browser=browser)
                yield harness
                harness.check()
            finally:
                await browser.close()


@pytest.fixture
async def chat_model(live: Live) -> Any:
    """An OpenAI-compatible model served by `live.upstream` (display name "Upstream model")."""
    from ai_model.models import AIModel, Provider

    provider = await Provider.objects.acreate(name="Upstream", kind="openai_compatible",
                                              base_url=f"{live.upstream_url}/v1", api_key="sk-test")
    return await AIModel.objects.acreate(provider=provider, model_id="gpt-test", display_name="Upstream model",
                                         supports_tools=True)


@pytest.fixture
async def long_chat(live: Live, chat_model: Any) -> Any:
    """A stored chat of alice's, titled "Long chat", far taller than any window: 30 question
    and answer pairs (each answer a few paragraphs), the last answer ending "The last answer."."""
    from chat_session.models import ChatSession
    from message.models import Message

    alice = await get_user_model().objects.aget(username="alice")
    session = await ChatSession.objects.acreate(owner=alice, title="Long chat", default_model=chat_model)
    parent = None
    for i in range(30):
        question = await Message.objects.acreate(session=session, parent=parent, role="user", content=f"Question {i + 1}?")
        answer = "\n\n".join(f"Answer {i + 1}, paragraph {p + 1}: " + "words " * 30 for p in range(3))
        if i == 29:
            answer += "\n\nThe last answer."
        parent = await Message.objects.acreate(session=session, parent=question, role="assistant", content=answer,
                                               model=chat_model, status="complete", finish_reason="stop")
    session.active_leaf = parent
    await session.asave(update_fields=["active_leaf"])
    return session
