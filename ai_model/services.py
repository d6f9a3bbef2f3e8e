"""Writes for providers and models."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from ai_model.models import AIModel, Provider
from ai_model.providers.registry import adapter_for
from ai_model.selectors import ai_model_resolve
from core.errors import DomainError
from core.runtime import runtime

LOCAL_PROVIDER_NAME = "Embedded (llama.cpp)"
LOCAL_MODEL_ID = "SmolLM2-135M-Instruct"

#: The cloud providers the first-run page offers: kind -> (provider name, [(model_id,
#: display name)]), the first model the most capable for its price. Each takes tools,
#: `temperature` and `max_tokens` as the adapters send them. Prices are left at 0 (the
#: deployment's currency is the admin's to set).
CLOUD_DEFAULTS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    Provider.Kind.OPENAI: ("OpenAI", [("gpt-4.1-mini", "GPT-4.1 mini"), ("gpt-4.1", "GPT-4.1")]),
    Provider.Kind.ANTHROPIC: ("Anthropic", [("claude-sonnet-4-5", "Claude Sonnet 4.5"),
                                            ("claude-haiku-4-5", "Claude Haiku 4.5")]),
    Provider.Kind.GEMINI: ("Google Gemini", [("gemini-2.5-flash", "Gemini 2.5 Flash"), ("gemini-2.5-pro", "Gemini 2.5 Pro")]),
}


def local_model_ensure() -> tuple[AIModel, bool]:
    """Create the embedded provider and its model unless present; returns (model, created).

    Idempotent: an existing row (possibly edited or disabled by an admin) is left as is.
    """
    provider, _ = Provider.objects.get_or_create(
        kind=Provider.Kind.LOCAL,
        defaults={"name": LOCAL_PROVIDER_NAME, "first_token_timeout_s": 300.0},
    )
    model, created = AIModel.objects.get_or_create(
        provider=provider,
        model_id=LOCAL_MODEL_ID,
        defaults={"display_name": "SmolLM2 135M (local)", "max_tokens": 512, "temperature": 0.3},
    )
    return model, created


def cloud_provider_create(*, kind: str, api_key: str) -> tuple[Provider, list[AIModel]]:
    """The cloud provider of `kind` (a key of CLOUD_DEFAULTS) with `api_key` (stored
    encrypted) and its default models (CLOUD_DEFAULTS), enabled; no network call. Returns
    the provider and the models created now. A provider of that name and kind gets the new
    key; its models, and any an admin added or edited, are kept. Raises DomainError (field
    `kind` or `api_key`) for an unknown kind or a blank key. Synchronous (one transaction).
    """
    if kind not in CLOUD_DEFAULTS:
        raise DomainError(f"Choose one of {', '.join(CLOUD_DEFAULTS)}.", code="invalid_kind", field="kind")
    api_key = (api_key or "").strip()
    if not api_key or any(c.isspace() or ord(c) < 32 for c in api_key):
        raise DomainError("Paste the provider's API key (one line, no spaces).", code="invalid_api_key", field="api_key")
    name, defaults = CLOUD_DEFAULTS[kind]
    with transaction.atomic():
        provider = Provider.objects.select_for_update().filter(name=name, kind=kind).first()
        if provider is None:
            if Provider.objects.filter(name=name).exists():  # an admin's provider of another kind has the name
                name = f"{name} (key)"
            provider, _ = Provider.objects.get_or_create(name=name, defaults={"kind": kind, "api_key": api_key})
        if provider.api_key != api_key:
            provider.api_key = api_key
            provider.save(update_fields=["api_key", "updated_at"])
        created = []
        for model_id, display_name in defaults:
            model, made = AIModel.objects.get_or_create(
                provider=provider, model_id=model_id, defaults={"display_name": display_name, "supports_tools": True})
            if made:
                created.append(model)
    return provider, created


def provider_keys_rotate() -> int:
    """Re-encrypt every stored provider API key with the first of FIELD_ENCRYPTION_KEYS;
    returns how many were rewritten. Raises ImproperlyConfigured if one decrypts with none
    of the keys (nothing is written then). Synchronous (a management command's)."""
    with transaction.atomic():
        keys = list(Provider.objects.select_for_update().exclude(api_key="").values_list("pk", "api_key"))
        for pk, plaintext in keys:
            # update(): the field encrypts with the first key; updated_at stays, as the key did.
            Provider.objects.filter(pk=pk).update(api_key=plaintext)
    return len(keys)


async def ai_model_availability(*, models: list[AIModel]) -> dict[uuid.UUID, bool]:
    """`{model id: is_available}`: the model is not marked unavailable (its local runtime no
    longer listed it, `ai_model.discovery`) and its provider's health probe answers (one per
    provider, cached on its adapter for a few seconds; a network call, hence a service and
    not a selector)."""
    by_provider: dict[uuid.UUID, bool] = {}
    result = {}
    for model in models:
        if model.provider_id not in by_provider:
            by_provider[model.provider_id] = await adapter_for(model.provider).is_available()
        result[model.id] = model.available and by_provider[model.provider_id]
    return result


async def ai_model_for_reply(*, model_id: Any = None, defaults: Iterable[Any] = ()) -> AIModel:
    """`ai_model_resolve` (same arguments, errors and result, fallbacks included), cached per
    worker for `ROW_CACHE_TTL_S` seconds: a reply's hot path then reads no model row. An
    edit in admin shows within that time."""
    defaults = tuple(defaults)
    key = ("model", None if model_id is None else str(model_id), tuple(None if d is None else str(d) for d in defaults))
    return await runtime().rows.get_or_load(key, lambda: ai_model_resolve(model_id=model_id, defaults=defaults))


def model_admission_check(*, model: AIModel) -> None:
    """Refuse at once a reply its model has no room for now (the embedded model's queue
    is full): raises ServerBusyError (503 `model_busy`, `Retry-After`). Remote models
    always have room here: their limits are the upstream's and the user's."""
    adapter_for(model.provider).admission_check()
