"""Crash recovery: a reply whose worker died becomes `interrupted` with its text."""



import pytest
from django.utils import timezone

from message.models import Message
from message.generation.store import message_recover_stale

pytestmark = pytest.mark.django_db(transaction=True)


async def test_stale_streaming_message_becomes_interrupted(api, session, settings):
    settings.GENERATION_STALE_AFTER_S = 60
    user_msg = await Message.objects.acreate(session=session, role="user", content="q")
    stale = await Message.objects.acreate(session=session, parent=user_msg, role="assistant", content="half an ans", status="streaming")
    fresh = await Message.objects.acreate(session=session, parent=user_msg, role="assistant", content="live", status="streaming")
    await Message.objects.filter(pk=stale.pk).aupdate(updated_at=timezone.now() - timezone.timedelta(seconds=61))
    body = (await api.get(f"/api/messages/{stale.id}")).json()
    assert body["status"] == "interrupted" and body["content"] == "half an ans" and body["error"]["code"] == "interrupted"
    assert (await Message.objects.aget(pk=fresh.pk)).status == "streaming"  # its worker is alive
    # On start-up every stale one is recovered.
    await Message.objects.filter(pk=fresh.pk).aupdate(updated_at=timezone.now() - timezone.timedelta(seconds=120))
    assert await message_recover_stale() == 1
    assert (await Message.objects.aget(pk=fresh.pk)).status == "interrupted"
