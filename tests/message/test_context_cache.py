"""The kept contexts (`message.context`): what reaches the model is exactly what the database
read would give, whatever the conversation does, and a follow-up reads no ancestors."""

import random

import pytest
from asgiref.sync import sync_to_async

from ai_model.errors import OverloadedError
from ai_model.models import AIModel
from ai_model.types import ToolCall
from core.runtime import runtime
from message.context import Context
from message.generation import store
from message.models import Message
from message.selectors import context_read
from message.services import message_regenerate, message_send
from tests.fakes import TEST_TOOLS

pytestmark = pytest.mark.django_db(transaction=True)


def _turns(messages) -> list[tuple]:
    return [(m.role, m.content, m.tool_calls, m.tool_call_id) for m in messages]


@pytest.fixture
def database_reads(monkeypatch):
    """How many contexts were read from the database."""
    reads = []
    original = store.context_read

    def counted(**kwargs):
        reads.append(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(store, "context_read", counted)
    return reads


async def test_random_conversations_reach_the_model_as_the_database_reads_them(
    session, fake_provider, fake_model, settings, database_reads, retry_sleeps
):
    settings.TOOLS = TEST_TOOLS
    # A small window: 100 tokens, 20 for the reply, 80 (240 characters) for the prompt.
    await AIModel.objects.filter(pk=fake_model.pk).aupdate(supports_tools=True, context_window=100, max_tokens=20)
    rng = random.Random(10)
    leaves = []
    trimmed = tools = 0
    for turn in range(40):
        roll = rng.random()
        if roll < 0.1:
            for _attempt in range(3):  # an empty failed reply: the first try and two retries
                fake_provider.enqueue([OverloadedError("down", status_code=503)])
        elif roll < 0.25:
            fake_provider.enqueue(["Let me add. ", ToolCall(f"c{turn}", "calculator", {"expression": "2+2"})])
            fake_provider.enqueue([f"It is four ({turn})."])
        else:
            fake_provider.enqueue([f"answer {turn} " + "x" * rng.randint(0, 60)])
        parent = rng.choice(leaves) if leaves and rng.random() < 0.2 else None  # sometimes a branch
        sent_before = len(fake_provider.requests)
        if leaves and rng.random() < 0.1:
            replied = await Message.objects.select_related("session").filter(
                session=session, role="assistant", tool_calls=[]).order_by("-created_at").afirst()
            started = await message_regenerate(message=replied)
            anchor_id = replied.parent_id
        else:
            started = await message_send(session=session, content=f"question {turn} " + "q" * rng.randint(0, 40),
                                         parent_id=parent)
            anchor_id = started.user_message.id
        await started.generation.finished.wait()
        await session.arefresh_from_db()
        leaves.append(started.generation.current_id)
        first_request = fake_provider.requests[sent_before]
        budget = (await AIModel.objects.aget(pk=fake_model.pk)).context_budget
        from_database = (await sync_to_async(context_read)(message_id=anchor_id, budget_tokens=budget)).messages
        assert _turns(first_request.messages) == _turns(from_database), f"turn {turn}"
        trimmed += not first_request.messages[0].content.startswith("question 0 ")
        tools += any(m.role == "tool" for m in first_request.messages)
    assert trimmed > 10 and tools > 3  # the budget trimmed most contexts; tool rounds were in some
    # Most follow-ups were served from the kept contexts.
    assert len(database_reads) < 20, len(database_reads)


async def test_a_follow_up_reads_no_ancestors(session, fake_provider, database_reads):
    fake_provider.enqueue(["first answer"])
    first = await message_send(session=session, content="first")
    await first.generation.finished.wait()
    assert len(database_reads) == 1  # the first message of an empty session
    await session.arefresh_from_db()
    fake_provider.enqueue(["second answer"])
    second = await message_send(session=session, content="second")
    await second.generation.finished.wait()
    assert len(database_reads) == 1
    assert _turns(fake_provider.requests[-1].messages) == [
        ("user", "first", (), ""), ("assistant", "first answer", (), ""), ("user", "second", (), "")]


async def test_a_bigger_budget_than_the_kept_one_reads_the_database():
    trimmed = Context.of([], budget_chars=100, whole=False)
    assert trimmed.serves(100) and trimmed.serves(50) and not trimmed.serves(101)
    assert Context.of([], budget_chars=100, whole=True).serves(10_000)


async def test_the_cache_is_bounded_in_characters(settings):
    from message.context import ContextCache
    from ai_model.types import ChatMessage
    import uuid

    cache = ContextCache(max_chars=1000, ttl_s=60)
    ids = [uuid.uuid4() for _ in range(10)]
    for i in ids:
        cache.put(i, Context.of([ChatMessage("user", "x" * 300)], budget_chars=10_000, whole=True))
    kept = [i for i in ids if cache.get(i, budget_chars=10_000) is not None]
    assert len(kept) == 3 and kept == ids[-3:]  # the oldest went first
    assert runtime().contexts.enabled


async def test_a_follow_up_reads_the_session_in_the_turns_own_hop(session, user, fake_provider, monkeypatch):
    from message import services

    reads = []
    original = services.chat_session_get

    async def counted(**kwargs):
        reads.append(kwargs)
        return await original(**kwargs)

    monkeypatch.setattr(services, "chat_session_get", counted)
    for text in ("first", "second", "third"):
        fake_provider.enqueue([f"re {text}"])
        started = await services.message_send_to(user=user, session_id=session.id, content=text)
        await started.generation.finished.wait()
    assert len(reads) == 1  # only the first send read the session on its own
    assert _turns(fake_provider.requests[-1].messages)[-3:] == [
        ("user", "second", (), ""), ("assistant", "re second", (), ""), ("user", "third", (), "")]


async def test_the_turns_hop_checks_the_owner_and_the_default_model(session, user, other_user, fake_provider, fake_model):
    from core.errors import NotFound
    from message.services import message_send_to

    fake_provider.enqueue(["one"])
    started = await message_send_to(user=user, session_id=session.id, content="one")
    await started.generation.finished.wait()
    # Another user, even with the session's tip known to this worker: 404, nothing stored.
    with pytest.raises(NotFound):
        await message_send_to(user=other_user, session_id=session.id, content="mine?")
    # The default model changed elsewhere (admin, another worker): the new one answers.
    other = await AIModel.objects.acreate(provider_id=fake_model.provider_id, model_id="fake-2", display_name="Fake 2")
    await session.__class__.objects.filter(pk=session.pk).aupdate(default_model=other)
    fake_provider.enqueue(["two"])
    started = await message_send_to(user=user, session_id=session.id, content="two")
    await started.generation.finished.wait()
    assert fake_provider.requests[-1].model == "fake-2"
    # A deleted session: 404, nothing stored.
    await session.__class__.objects.filter(pk=session.pk).adelete()
    with pytest.raises(NotFound):
        await message_send_to(user=user, session_id=session.id, content="gone")
    assert not await Message.objects.filter(content__in=["mine?", "gone"]).aexists()
