"""Writes for providers, models and users' private assistants; the cached reads of a reply's
hot path (`ai_model_for_reply`, `assistant_for_reply`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction

from ai_model.models import AIModel, Assistant, Provider
from ai_model.providers.registry import adapter_for
from ai_model.selectors import ai_model_find, ai_model_resolve, assistant_get_for
from ai_model.tools import tool_name_problem, tool_registry
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


async def assistant_for_reply(*, user_id: Any, assistant_id: Any) -> Assistant:
    """`assistant_get_for` (same errors: NotFound, field `assistant`), cached per worker and
    user for `ROW_CACHE_TTL_S` seconds like the models: a send with an assistant reads no
    assistant row while the cache holds it. An edit in admin (or a grant taken back) shows
    within that time; the owner's own edits through the API at once on this worker."""
    key = ("assistant", user_id, str(assistant_id))
    return await runtime().rows.get_or_load(key, lambda: assistant_get_for(user_id=user_id, assistant_id=assistant_id))


#: At most this many tool names on one assistant.
ASSISTANT_MAX_TOOLS = 64

_EDITABLE = ("name", "description", "system_prompt", "model", "temperature", "max_tokens", "tools", "strategy")


def _may_write_assistants() -> None:
    if not settings.ASSISTANTS_USER_CREATED:
        raise DomainError("Creating or changing assistants is not enabled on this server (ASSISTANTS_USER_CREATED).",
                          code="assistants_not_allowed", field="assistant", status_code=403)


async def _assistant_checked(fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` with `model` (an id or None) turned into a usable chat model and `tools`
    checked; raises DomainError (fields `model`, `tools`)."""
    checked = dict(fields)
    if "model" in checked and checked["model"] is not None:
        model = await ai_model_find(purpose=AIModel.Purpose.CHAT, name=checked["model"])
        if model is None:
            raise DomainError("Unknown or disabled model.", code="invalid_model", field="model")
        checked["model"] = model
    if "tools" in checked:
        names = list(dict.fromkeys(checked["tools"] or ()))
        if len(names) > ASSISTANT_MAX_TOOLS:
            raise DomainError(f"At most {ASSISTANT_MAX_TOOLS} tools.", code="too_many_tools", field="tools")
        known = tool_registry()
        for name in names:
            if (problem := tool_name_problem(name, known=known)) is not None:
                raise DomainError(problem, code="invalid_tool", field="tools")
        checked["tools"] = names
    return checked


async def assistant_create(*, user: Any, name: str, **fields: Any) -> Assistant:
    """A private assistant of `user` (only they see it) with `name` and any of `description`,
    `system_prompt`, `model` (a chat model's id, None: the session's), `temperature`,
    `max_tokens`, `tools` (names: `ai_model.tools.tool_name_problem`) and `strategy`. Allowed
    only with `ASSISTANTS_USER_CREATED` (else DomainError 403 `assistants_not_allowed`);
    raises DomainError (fields `model`, `tools`)."""
    _may_write_assistants()
    unknown = set(fields) - set(_EDITABLE)
    if unknown:
        raise TypeError(f"unknown fields {sorted(unknown)}")
    checked = await _assistant_checked(fields)
    return await Assistant.objects.acreate(owner=user, name=name, **checked)


async def assistant_update(*, user: Any, assistant: Assistant, **fields: Any) -> Assistant:
    """Change the fields given (as `assistant_create` names them) of `user`'s own private
    `assistant`. An admin's assistant is read-only to users (DomainError 403
    `assistant_read_only`); also `assistants_not_allowed` and the field errors of
    `assistant_create`."""
    _own(user, assistant)
    _may_write_assistants()
    checked = await _assistant_checked({k: v for k, v in fields.items() if k in _EDITABLE})
    for name, value in checked.items():
        setattr(assistant, name, value)
    await assistant.asave(update_fields=[*checked, "updated_at"])
    runtime().rows.forget("assistant")
    return assistant


async def assistant_delete(*, user: Any, assistant: Assistant) -> None:
    """Delete `user`'s own private `assistant` (always allowed, whatever
    `ASSISTANTS_USER_CREATED` says); the replies and sessions that used it keep no link."""
    _own(user, assistant)
    await assistant.adelete()
    runtime().rows.forget("assistant")


def _own(user: Any, assistant: Assistant) -> None:
    if assistant.owner_id != user.pk:
        raise DomainError("This assistant is managed by the administrators.", code="assistant_read_only",
                          field="assistant", status_code=403)


def ai_model_default_set(*, model: AIModel) -> None:
    """Make `model` the default (`is_default`) and no other: one transaction, so the
    `one_default_model` constraint never sees two. Synchronous (admin)."""
    with transaction.atomic():
        AIModel.objects.filter(is_default=True).exclude(pk=model.pk).update(is_default=False)
        AIModel.objects.filter(pk=model.pk).update(is_default=True)
    model.is_default = True
