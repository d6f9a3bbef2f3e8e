"""The admin's default model (`AIModel.is_default`): at most one, listed first by
`/api/models`, and the model of a reply when neither the request nor the session names one."""

import pytest
from django.db import IntegrityError, transaction

from ai_model.models import AIModel, Provider
from ai_model.services import ai_model_default_set

pytestmark = pytest.mark.django_db(transaction=True)


async def _models(fake_model):
    other = await AIModel.objects.acreate(provider=fake_model.provider, model_id="zeta", display_name="Zeta")
    return fake_model, other


async def test_the_default_is_listed_first_and_answers(api, user, fake_model, fake_provider):
    first, zeta = await _models(fake_model)
    listed = (await api.get("/api/models")).json()
    assert [m["name"] for m in listed][:2] == ["Fake 1", "Zeta"] and not any(m["is_default"] for m in listed)
    await AIModel.objects.filter(pk=zeta.pk).aupdate(is_default=True)
    listed = (await api.get("/api/models")).json()
    assert listed[0]["name"] == "Zeta" and listed[0]["is_default"] and not listed[1]["is_default"]
    session = (await api.post("/api/sessions", json={})).json()
    res = await api.post(f"/api/sessions/{session['id']}/messages", json={"content": "hi"})
    assert res.status_code == 201 and res.json()["assistant"]["model"] == str(zeta.pk)


def test_one_default_at_most(db):
    provider = Provider.objects.create(name="P", kind=Provider.Kind.OPENAI_COMPATIBLE, base_url="http://x.invalid/v1")
    a = AIModel.objects.create(provider=provider, model_id="a", display_name="A", is_default=True)
    b = AIModel.objects.create(provider=provider, model_id="b", display_name="B")
    with pytest.raises(IntegrityError), transaction.atomic():
        AIModel.objects.filter(pk=b.pk).update(is_default=True)
    ai_model_default_set(model=b)
    assert list(AIModel.objects.filter(is_default=True)) == [b]
    a.refresh_from_db()
    assert not a.is_default
