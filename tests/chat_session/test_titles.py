"""Automatic session titles."""

import pytest

from ai_model.errors import ProviderConnectionError
from ai_model.models import AIModel
from chat_session.models import ChatSession
from chat_session.titles import clean_title, titles_settle
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
    assert (await ChatSession.objects.aget(pk=session.pk)).title == ""
    res = await api.post(f"/api/sessions/{session.id}/title")
    assert res.status_code == 503 and res.json()["code"] == "title_unavailable"


async def test_title_on_demand(session, api, fake_provider, titler, settings):
    settings.TITLES_ENABLED = False
    await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Explain quantum tunnelling"})
    fake_provider.by_model["titler"] = ["Quantum Tunnelling Explained"]
    res = await api.post(f"/api/sessions/{session.id}/title")
    assert res.status_code == 200 and res.json() == {"title": "Quantum Tunnelling Explained"}
    assert (await api.get(f"/api/sessions/{session.id}")).json()["title"] == "Quantum Tunnelling Explained"
