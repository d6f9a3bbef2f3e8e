"""Automatic session titles."""

import asyncio

import pytest

from ai_model.errors import ProviderConnectionError
from ai_model.models import AIModel
from chat_session.models import ChatSession
from message.models import Message
from chat_session.titles import clean_title, fallback_title, title_problem, titles_settle
from tests.message.helpers import connect, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def titler(fake_model, settings):
    settings.TITLES_ENABLED = True
    settings.TITLE_MODEL = "titler"
    return await AIModel.objects.acreate(provider=fake_model.provider, model_id="titler", display_name="Titler")


@pytest.mark.parametrize(("raw", "title"), [
    ('"Planning a Trip to Japan!"', "Planning a Trip to Japan"),
    ("Title: **Rust borrow checker basics.**\nMore text", "Rust borrow checker basics"),
    ("“Why is the sky blue?”", "Why is the sky blue"),
    ("A very long title that goes on and on forever", "A very long title that goes"),
    ("   \n", ""),
    ("- Red (Orange/Yellow)", "Red (Orange/Yellow)"),
    ('Here\'s a possible title:\n"Japan in Winter: Comfortable and Warm"', "Japan in Winter"),
    ("The colors of the rainbow: red, blue and yellow.", "The colors of the rainbow"),
])
def test_clean_title(raw, title):
    assert clean_title(raw) == title


async def test_title_after_the_first_reply_is_pushed_on_the_socket(session, user, api, fake_provider, titler):
    fake_provider.by_model["titler"] = ['"Packing for a Japan Trip."']
    ws, _, _ = await connect(session, user)
    fake_provider.enqueue(["Take layers."])
    await api.post(f"/api/sessions/{session.id}/messages", json={"content": "What should I pack for Japan?"})
    frames = await receive_until(ws, lambda f: f["type"] == "session_update")
    assert frames[-1]["session"]["title"] == "Packing for a Japan Trip"
    await titles_settle()
    stored = await ChatSession.objects.aget(pk=session.pk)
    assert stored.title == "Packing for a Japan Trip" and stored.title_set_by_user is False
    title_request = next(r for r in fake_provider.requests if r.model == "titler")
    last = title_request.messages[-1].content
    assert "User: What should I pack for Japan?" in last and "Assistant: Take layers." in last
    await ws.disconnect()

    # Later replies do not retitle.
    fake_provider.by_model["titler"] = ["Something else"]
    await api.post(f"/api/sessions/{session.id}/messages", json={"content": "And shoes?"})
    await titles_settle()
    assert (await ChatSession.objects.aget(pk=session.pk)).title == "Packing for a Japan Trip"


async def test_a_user_title_is_never_overwritten(session, api, fake_provider, titler):
    fake_provider.by_model["titler"] = ["Machine Title"]
    await api.patch(f"/api/sessions/{session.id}", json={"title": "Mine"})
    await api.post(f"/api/sessions/{session.id}/messages", json={"content": "hi"})
    await titles_settle()
    assert (await ChatSession.objects.aget(pk=session.pk)).title == "Mine"
    res = await api.post(f"/api/sessions/{session.id}/title")
    assert res.status_code == 409 and res.json()["code"] == "title_set_by_user"
    assert not any(r.model == "titler" for r in fake_provider.requests)


async def test_a_failing_title_model_leaves_the_chat_untouched(session, api, fake_provider, titler):
    fake_provider.by_model["titler"] = [ProviderConnectionError("title model down")]
    fake_provider.enqueue(["fine answer"])
    res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "hi"})
    assert res.json()["assistant"]["status"] == "complete" and res.json()["assistant"]["content"] == "fine answer"
    await titles_settle()
    # No model title: the first message's words.
    assert (await ChatSession.objects.aget(pk=session.pk)).title == "Hi"
    res = await api.post(f"/api/sessions/{session.id}/title")
    assert res.status_code == 503 and res.json()["code"] == "title_unavailable"


async def test_title_on_demand(session, api, fake_provider, titler, settings):
    settings.TITLES_ENABLED = False
    await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Explain quantum tunnelling"})
    fake_provider.by_model["titler"] = ["Quantum Tunnelling Explained"]
    res = await api.post(f"/api/sessions/{session.id}/title")
    assert res.status_code == 200 and res.json() == {"title": "Quantum Tunnelling Explained"}
    assert (await api.get(f"/api/sessions/{session.id}")).json()["title"] == "Quantum Tunnelling Explained"


@pytest.mark.parametrize(("title", "question", "answer", "refused"), [
    ("Fixing Dense Sourdough Bread", "How do I file taxes?", "Use form 1040.", True),  # the prompt's example
    ("Fixing Dense Sourdough Bread", "Why is my sourdough bread dense?", "Weak starter.", False),  # it is the topic
    ("Learning Spanish Quickly", "Best Python web framework?", "Django.", True),
    ("Cooking Pasta Tips", "How do I file taxes?", "Use form 1040.", True),  # no shared word
    ("Filing Taxes Online", "How do I file my taxes online?", "", False),
    ("Proofing Dough Overnight", "Can I proof dough in the fridge overnight?", "", False),
    ("Red (Orange", "What colour is red?", "", True),  # cut mid-bracket
    ('The "best laptop', "Which laptop is the best?", "", True),
])
def test_titles_that_do_not_name_the_chat_are_refused(title, question, answer, refused):
    assert (title_problem(title, question, answer) is not None) is refused


def test_the_fallback_is_the_first_words_of_the_question():
    assert fallback_title("how do I **proof** dough overnight in a cold fridge, please?") == "How do I proof dough overnight"
    assert fallback_title("see https://x.example/a and `code`") == "See and code"
    assert fallback_title("```\nonly code\n```") == ""


async def test_a_copied_example_gives_the_questions_words(session, api, fake_provider, titler):
    fake_provider.by_model["titler"] = ["Fixing Dense Sourdough Bread"]
    fake_provider.enqueue(["Use form 1040."])
    await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Which tax form do I need?"})
    await titles_settle()
    assert (await ChatSession.objects.aget(pk=session.pk)).title == "Which tax form do I need"


async def test_a_cancelled_only_reply_still_gets_a_title(session, api, fake_provider, titler):
    fake_provider.by_model["titler"] = [ProviderConnectionError("down")]
    fake_provider.enqueue([10.0, "never"])
    url = f"/api/sessions/{session.id}/messages"
    sending = asyncio.ensure_future(api.post(url, json={"content": "Plan a trip to Rome"}))  # (buffered: waits)
    for _ in range(200):
        reply = await Message.objects.filter(session=session, role="assistant").afirst()
        if reply is not None:
            break
        await asyncio.sleep(0.02)
    cancelled = await api.post(f"/api/messages/{reply.id}/cancel")
    await sending
    assert cancelled.json()["status"] == "cancelled"
    await titles_settle()
    assert (await ChatSession.objects.aget(pk=session.pk)).title == "Plan a trip to Rome"
