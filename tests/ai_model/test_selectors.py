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


async def test_resolve_prefers_the_defaults_in_order_then_the_embedded_model(cloud, local_model):
    other = await _model(cloud, "gpt-x")
    third = await _model(cloud, "gpt-y")
    assert await ai_model_resolve(defaults=[other.id]) == other
    assert await ai_model_resolve(defaults=[None, third.id, other.id]) == third
    assert await ai_model_resolve() == local_model == await ai_model_local()
    await AIModel.objects.filter(pk=other.pk).aupdate(enabled=False)
    assert await ai_model_resolve(defaults=[other.id]) == local_model


async def test_resolve_brings_the_fallback_chain_so_the_reply_needs_no_second_lookup(cloud, local_model):
    from ai_model.models import ModelFallback
    from ai_model.selectors import ai_model_chain

    primary = await _model(cloud, "gpt-x")
    backup = await _model(cloud, "gpt-y")
    disabled = await _model(cloud, "gpt-z")
    await AIModel.objects.filter(pk=disabled.pk).aupdate(enabled=False)
    await ModelFallback.objects.acreate(model=primary, fallback=disabled, position=0)
    await ModelFallback.objects.acreate(model=primary, fallback=local_model, position=2)
    await ModelFallback.objects.acreate(model=primary, fallback=backup, position=1)
    resolved = await ai_model_resolve(model_id=primary.id)
    assert [e.fallback.model_id for e in resolved.usable_fallbacks] == [
        "gpt-y", local_model.model_id]
    assert await ai_model_chain(model=resolved) == [primary, backup, local_model]
    # A model that did not come from resolve is looked up.
    assert await ai_model_chain(model=await AIModel.objects.aget(pk=primary.pk)) == [primary, backup, local_model]
