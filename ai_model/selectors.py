"""Reads for providers and models (database only: no network probe, no write)."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Q, QuerySet

from ai_model.models import AIModel, ModelFallback, Provider
from ai_model.providers.registry import supported_kinds
from core.errors import DomainError


def usable_models(purpose: str = AIModel.Purpose.CHAT) -> QuerySet[AIModel]:
    """Enabled models of enabled providers for `purpose` (a queryset; provider joined)."""
    return AIModel.objects.filter(enabled=True, provider__enabled=True, purpose=purpose).select_related("provider")


def _servable(purpose: str = AIModel.Purpose.CHAT) -> QuerySet[AIModel]:
    """`usable_models` whose provider kind has an adapter."""
    return usable_models(purpose).filter(provider__kind__in=supported_kinds())


def _as_uuid(value: Any) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


async def ai_model_find(*, purpose: str, name: str | uuid.UUID | None) -> AIModel | None:
    """The usable model of `purpose` that `name` names, or None (also for an empty `name`).

    Usable: enabled, of an enabled provider whose kind has an adapter. `name` is the
    model's id (a UUID, as text or not) or its `model_id` (the provider's name for it,
    e.g. `gpt-4o-mini`); an id match wins, then the first `model_id` match by display name.
    """
    if not name:
        return None
    pk = _as_uuid(name)
    match = Q(model_id=str(name))
    if pk is not None:
        match |= Q(pk=pk)
    found = [model async for model in _servable(purpose).filter(match)]
    return next((m for m in found if m.pk == pk), None) or next(iter(found), None)


async def ai_model_list() -> list[AIModel]:
    """Models users may pick: usable and with an adapter for their provider kind."""
    return [m async for m in _servable().order_by("display_name")]


async def ai_model_resolve(*, model_id: Any = None, fallback: AIModel | None = None) -> AIModel:
    """The chat model a reply should use: the one `model_id` names (see `ai_model_find`; the
    API sends its UUID), else `fallback`, else the first usable model (the embedded one
    first). Raises DomainError (code `invalid_model`, field `model`) when `model_id` names
    no usable model, and (code `no_model`) when no model exists at all."""
    if model_id is not None:
        model = await ai_model_find(purpose=AIModel.Purpose.CHAT, name=model_id)
        if model is not None:
            return model
        pk = _as_uuid(model_id)
        if pk is not None and await usable_models().filter(pk=pk).aexists():
            raise DomainError("This model's provider kind is not supported yet.", code="invalid_model", field="model")
        raise DomainError("Unknown or disabled model.", code="invalid_model", field="model")
    if fallback is not None and fallback.enabled:
        fresh = await _servable().filter(pk=fallback.pk).afirst()
        if fresh is not None:
            return fresh
    local = await ai_model_local()
    if local is not None:
        return local
    for model in await ai_model_list():
        return model
    raise DomainError("No model is configured; run `manage.py ensure_local_model`.", code="no_model", field="model")


async def ai_model_local() -> AIModel | None:
    """The usable chat model of the embedded provider (the oldest, should there be several)."""
    return await _servable().filter(provider__kind=Provider.Kind.LOCAL).order_by("created_at").afirst()


async def ai_model_chain(*, model: AIModel) -> list[AIModel]:
    """`model` followed by its usable fallback models, in their configured order."""
    chain = [model]
    async for entry in (
        ModelFallback.objects.filter(
            model=model, fallback__enabled=True, fallback__provider__enabled=True, fallback__purpose=model.purpose,
            fallback__provider__kind__in=supported_kinds(),
        )
        .select_related("fallback__provider")
        .order_by("position")
    ):
        if entry.fallback_id != model.id:
            chain.append(entry.fallback)
    return chain
