"""Reads for providers and models (database only: no network probe, no write)."""

from __future__ import annotations

from typing import Any

from ai_model.models import AIModel, ModelFallback, Provider
from ai_model.providers.registry import is_supported
from core.errors import DomainError, NotFound
from core.ids import uuid_or_404


def usable_models(purpose: str = AIModel.Purpose.CHAT):
    """Enabled models of enabled providers for `purpose` (a queryset; provider joined)."""
    return AIModel.objects.filter(enabled=True, provider__enabled=True, purpose=purpose).select_related("provider")


async def ai_model_list() -> list[AIModel]:
    """Models users may pick: usable and with an adapter for their provider kind."""
    return [m async for m in usable_models().order_by("display_name") if is_supported(m.provider.kind)]


async def ai_model_resolve(*, model_id: Any = None, fallback: AIModel | None = None) -> AIModel:
    """The model a reply should use: `model_id` if given, else `fallback`, else the first
    usable model (the embedded one first). Raises DomainError (field `model`) when the
    given id is unknown, disabled or has no adapter, or when no model exists at all."""
    if model_id is not None:
        try:
            model = await usable_models().aget(pk=uuid_or_404(model_id))
        except (AIModel.DoesNotExist, NotFound):
            raise DomainError("Unknown or disabled model.", code="invalid_model", field="model") from None
        if not is_supported(model.provider.kind):
            raise DomainError("This model's provider kind is not supported yet.", code="invalid_model", field="model")
        return model
    if fallback is not None and fallback.enabled:
        fresh = await usable_models().filter(pk=fallback.pk).afirst()
        if fresh is not None and is_supported(fresh.provider.kind):
            return fresh
    async for model in usable_models().order_by("created_at"):
        if model.provider.kind == Provider.Kind.LOCAL:
            return model
    for model in await ai_model_list():
        return model
    raise DomainError("No model is configured; run `manage.py ensure_local_model`.", code="no_model", field="model")


async def ai_model_chain(*, model: AIModel) -> list[AIModel]:
    """`model` followed by its usable fallback models, in their configured order."""
    chain = [model]
    async for entry in (
        ModelFallback.objects.filter(
            model=model, fallback__enabled=True, fallback__provider__enabled=True, fallback__purpose=model.purpose
        )
        .select_related("fallback__provider")
        .order_by("position")
    ):
        if entry.fallback_id != model.id and is_supported(entry.fallback.provider.kind):
            chain.append(entry.fallback)
    return chain
