"""Finding a usable model by id or name (`ai_model_find`) and what builds on it."""

import uuid

import pytest

from ai_model.models import AIModel, Provider
from ai_model.selectors import ai_model_find, ai_model_local, ai_model_resolve
from core.errors import DomainError

pytestmark = pytest.mark.django_db(transaction=True)

CHAT, SPEECH = AIModel.Purpose.CHAT, AIModel.Purpose.SPEECH


@pytest.fixture
async def cloud():
    return await Provider.objects.acreate(name="Cloud", kind="openai", base_url="http://cloud.invalid/v1")


async def _model(provider, model_id, purpose=CHAT, **fields):
    return await AIModel.objects.acreate(provider=provider, model_id=model_id, display_name=model_id, purpose=purpose, **fields)


async def test_found_by_id_as_text_or_uuid_and_by_model_id(cloud):
    model = await _model(cloud, "gpt-x")
    for name in (str(model.id), model.id, str(model.id).upper(), "gpt-x"):
        assert (await ai_model_find(purpose=CHAT, name=name)) == model
    for name in (None, "", "gpt-y", str(uuid.uuid4())):
        assert await ai_model_find(purpose=CHAT, name=name) is None


async def test_only_usable_models_of_the_purpose(cloud, settings):
    model = await _model(cloud, "tts-x", purpose=SPEECH)
    assert await ai_model_find(purpose=CHAT, name="tts-x") is None
    assert await ai_model_find(purpose=SPEECH, name="tts-x") == model

    await AIModel.objects.filter(pk=model.pk).aupdate(enabled=False)
    assert await ai_model_find(purpose=SPEECH, name="tts-x") is None
    await AIModel.objects.filter(pk=model.pk).aupdate(enabled=True)
    await Provider.objects.filter(pk=cloud.pk).aupdate(enabled=False)
    assert await ai_model_find(purpose=SPEECH, name="tts-x") is None
    await Provider.objects.filter(pk=cloud.pk).aupdate(enabled=True)
    settings.PROVIDER_ADAPTERS = {"openai": None}  # no adapter for the kind
    assert await ai_model_find(purpose=SPEECH, name="tts-x") is None


async def test_an_id_match_wins_over_a_model_id_match(cloud):
    by_id = await _model(cloud, "a-model")
    await _model(cloud, str(by_id.id))  # a model whose provider name is the other's id
    assert await ai_model_find(purpose=CHAT, name=str(by_id.id)) == by_id


async def test_resolve_keeps_its_error_codes_and_messages(cloud, settings):
    model = await _model(cloud, "gpt-x")
    assert await ai_model_resolve(model_id=model.id) == model
    with pytest.raises(DomainError) as caught:
        await ai_model_resolve(model_id=uuid.uuid4())
    assert (caught.value.code, caught.value.field, caught.value.message) == ("invalid_model", "model", "Unknown or disabled model.")
    settings.PROVIDER_ADAPTERS = {"openai": None}
    with pytest.raises(DomainError) as caught:
        await ai_model_resolve(model_id=model.id)
    assert caught.value.code == "invalid_model" and caught.value.message == "This model's provider kind is not supported yet."
    with pytest.raises(DomainError) as caught:
        await ai_model_resolve()
    assert caught.value.code == "no_model"


async def test_resolve_prefers_the_fallback_then_the_embedded_model(cloud, local_model):
    other = await _model(cloud, "gpt-x")
    assert await ai_model_resolve(fallback=other) == other
    assert await ai_model_resolve() == local_model == await ai_model_local()
    await AIModel.objects.filter(pk=other.pk).aupdate(enabled=False)
    assert await ai_model_resolve(fallback=other) == local_model
