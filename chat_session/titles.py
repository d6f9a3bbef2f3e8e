"""Automatic session titles.

After a session's first reply completes, a title of at most six words is generated in
the background with the title model (`TITLE_MODEL`: an AIModel id or model id; empty
means the embedded local model), stored unless the user has set one, and pushed to the
session's sockets as `session_update`. Failures are logged and leave the old title; they
never touch the chat.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.conf import settings

from ai_model.models import AIModel
from ai_model.providers.registry import adapter_for
from ai_model.selectors import ai_model_find, ai_model_local
from ai_model.types import ChatMessage, ChatRequest
from chat_session.models import ChatSession
from chat_session.realtime import session_update_broadcast
from core.errors import Conflict, Unavailable
from core.runtime import runtime
from core.text import nul_free

logger = logging.getLogger(__name__)

MAX_WORDS = 6
_QUOTES = "\"'`“”‘’«»„"


def _conversation(question: str, answer: str) -> str:
    text = f"Conversation:\nUser: {question[:1500]}\n"
    if answer:
        text += f"Assistant: {answer[:1500]}\n"
    return text + "\nTitle:"


# Two worked examples: small models (the embedded SmolLM2-135M) follow a pattern far more
# reliably than an instruction alone.
FEW_SHOT = [
    ChatMessage("system", f"You name chat conversations with a short title of at most {MAX_WORDS} words. "
                          "Answer with the title only."),
    ChatMessage("user", _conversation("What's the best way to learn Spanish quickly?",
                                      "Practice daily with a tutor and immerse yourself.")),
    ChatMessage("assistant", "Learning Spanish Quickly"),
    ChatMessage("user", _conversation("My sourdough bread is too dense, why?",
                                      "Your starter may be weak or the dough under-proofed.")),
    ChatMessage("assistant", "Fixing Dense Sourdough Bread"),
]


class TitleError(Unavailable):
    """No usable title could be generated (the title model failed or answered nonsense): 503."""

    code = "title_unavailable"
    field = "title"

    def __init__(self, reason: str) -> None:
        super().__init__(f"No title could be generated: {reason}")


class NothingToTitle(Conflict):
    """The session has no message to take a title from: 409."""

    code = "nothing_to_title"
    field = "title"


def clean_title(raw: str) -> str:
    """A model's answer reduced to a title: the first real line (after a "Here is a
    title:" preamble), without list markers, a "Title:" prefix, a subtitle after a colon,
    Markdown, quotes or trailing punctuation; at most MAX_WORDS words. May return ""."""
    lines = [ln.strip() for ln in nul_free(raw).strip().splitlines() if ln.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        lines = lines[1:]
    line = lines[0] if lines else ""
    line = re.sub(r"^([-*•]|\d+[.)])\s+", "", line)
    line = re.sub(r"^\s*(#+\s*|[*_]+)?\s*(session\s+)?title\s*[:\-–]\s*", "", line, flags=re.I)
    line = re.sub(r"[*_#`]+", "", line).strip().strip(_QUOTES).strip()
    head, colon, _rest = line.partition(":")
    if colon and len(head.split()) >= 2:
        line = head
    words = line.split()[:MAX_WORDS]
    return " ".join(words).strip(_QUOTES).rstrip(".,;:!?…-–— ").strip(_QUOTES).strip()[:200]


#: The worked examples' titles: a model that answers one of them copied the pattern, not the chat.
EXAMPLE_TITLES = frozenset(m.content.casefold() for m in FEW_SHOT if m.role == "assistant")
_WORDS = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset("""a an and are as at be by can do does for from how i in is it its me my of on or our so
that the this to was what when where which who why will with you your""".split())
_PAIRS = ("()", "[]", "{}", "“”", "‘’", "«»")


def _stems(text: str) -> set[str]:
    # Lower-case words without stopwords, cut to 5 letters: "proofing" and "proofed" meet.
    return {w[:5] for w in (m.casefold() for m in _WORDS.findall(text)) if w not in _STOPWORDS and len(w) > 1}


def title_problem(title: str, question: str, answer: str) -> str | None:
    """Why a generated `title` does not name this conversation, or None when it does: it
    copies a worked example of the prompt (unless most of its words are the conversation's), shares no word with the question and answer
    (stopwords aside, compared by their first five letters), or is cut mid-bracket or
    mid-quote."""
    words = _stems(title)
    said = _stems(question) | _stems(answer)
    if title.casefold() in EXAMPLE_TITLES and len(words & said) * 2 < len(words):
        return "it copies an example of the prompt"
    if words and not words & said:
        return "it shares no word with the conversation"
    for opening, closing in _PAIRS:
        if title.count(opening) != title.count(closing):
            return "it is cut inside brackets or quotes"
    if title.count('"') % 2:
        return "it is cut inside quotes"
    return None


def fallback_title(question: str) -> str:
    """A title from the user's first message: its first MAX_WORDS words, without Markdown,
    links or trailing punctuation ("" when it has no words)."""
    text = re.sub(r"```.*?(```|$)", " ", nul_free(question), flags=re.S)
    text = re.sub(r"https?://\S+", " ", text)
    text = re.sub(r"[*_#`>\[\](){}\"“”«»|]+", " ", text)
    words = text.split()[:MAX_WORDS]
    title = " ".join(words).rstrip(".,;:!?…-–— ").strip()
    return (title[:1].upper() + title[1:])[:200]


async def _title_model() -> AIModel:
    """The usable model `TITLE_MODEL` names (its id or model id), else the embedded one;
    raises TitleError when there is none."""
    choice = settings.TITLE_MODEL
    if choice:
        model = await ai_model_find(purpose=AIModel.Purpose.CHAT, name=choice)
    else:
        model = await ai_model_local()
    if model is None:
        raise TitleError(f"No usable title model ({choice or 'the embedded local model'}).")
    return model


async def _opening(session: ChatSession) -> tuple[str, str]:
    # Through the reverse relation `session.messages`: chat_session sits below `message`
    # in the layering and imports nothing from it.
    first_user = await session.messages.filter(role="user").order_by("created_at").afirst()
    if first_user is None:
        raise NothingToTitle("The session has no message yet.")
    reply = await first_user.children.filter(role="assistant", status="complete").order_by("created_at").afirst()
    return first_user.content, reply.content if reply else ""


async def session_title_generate(*, session: ChatSession) -> str:
    """Generate, store and broadcast a title for `session`; returns it.

    Raises TitleError when the model fails or answers nothing usable; the stored title
    is then unchanged. A title set by the user is never replaced (checked in the UPDATE).
    """
    question, answer = await _opening(session)
    model = await _title_model()
    request = ChatRequest(
        model=model.model_id,
        messages=[*FEW_SHOT, ChatMessage("user", _conversation(question, answer))],
        temperature=0.2, max_tokens=24,
    )
    result = await adapter_for(model.provider).complete(request)
    if result.error is not None:
        raise TitleError(f"{result.error.code}: {result.error.detail}")
    title = clean_title(result.text)
    problem = title_problem(title, question, answer) if title else "it is empty"
    if problem is not None:
        logger.info("title %r for session %s refused (%s); taking the first message's words", title, session.pk, problem)
        title = fallback_title(question)
    if not title:
        raise TitleError(f"The title model answered nothing usable: {result.text[:100]!r}")
    return await _title_store(session, title)


async def _title_store(session: ChatSession, title: str) -> str:
    updated = await ChatSession.objects.filter(pk=session.pk, title_set_by_user=False).aupdate(title=title)
    await session.arefresh_from_db()
    if updated:
        await session_update_broadcast(session)
    return session.title


async def _generate_in_background(session_id: Any) -> None:
    session = None
    try:
        session = await ChatSession.objects.filter(pk=session_id, title="", title_set_by_user=False).afirst()
        if session is not None:
            await session_title_generate(session=session)
    except Exception as exc:  # never affects the chat
        logger.warning("automatic title for session %s failed: %s", session_id, exc)
        # No model title: the first message's words, so the chat is not left "Untitled".
        try:
            if session is not None and not isinstance(exc, NothingToTitle):
                question, _ = await _opening(session)
                if title := fallback_title(question):
                    await _title_store(session, title)
        except Exception as again:
            logger.warning("fallback title for session %s failed: %s", session_id, again)


def title_schedule(session_id: Any) -> None:
    """Generate a title in the background if the session has none (and titles are on):
    after a reply, whatever its end (a cancelled or failed first reply gets one too)."""
    if not settings.TITLES_ENABLED:
        return
    runtime().background.spawn(_generate_in_background(session_id), name=f"title:{session_id}")


async def titles_settle() -> None:
    """Wait for background title tasks (tests; shutdown settles every background task)."""
    await runtime().background.settle()
