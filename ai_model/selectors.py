"""Reads for providers, models and assistants (database only: no network probe, no write)."""

from __future__ import annotations

import uuid
from typing import Any

from collections.abc import Iterable

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils.text import slugify

from ai_model.models import AIModel, Assistant, AssistantGrant, ModelFallback, Provider
from ai_model.providers.registry import supported_kinds
from core.errors import DomainError, NotFound


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


def _with_chain(query: QuerySet[AIModel], purpose: str) -> QuerySet[AIModel]:
    """`query` with each model's usable fallbacks fetched alongside (one more query for
    all of them), so `ai_model_chain` needs no lookup of its own, and `has_mcp_servers`
    (`ai_model.tools.tools_for_reply`)."""
    entries = ModelFallback.objects.filter(
        fallback__enabled=True, fallback__provider__enabled=True, fallback__purpose=purpose,
        fallback__provider__kind__in=supported_kinds(),
    ).select_related("fallback__provider").order_by("position")
    # Whether the model has an enabled MCP server: a reply of one without gets its tools with no query.
    has_mcp = Exists(AIModel.mcp_servers.through.objects.filter(aimodel_id=OuterRef("pk"), mcpserver__enabled=True))
    return query.annotate(has_mcp_servers=has_mcp).prefetch_related(
        Prefetch("fallback_entries", queryset=entries, to_attr="usable_fallbacks"))


async def ai_model_find(
    *, purpose: str, name: str | uuid.UUID | None, with_chain: bool = False
) -> AIModel | None:
    """The usable model of `purpose` that `name` names, or None (also for an empty `name`).

    Usable: enabled, of an enabled provider whose kind has an adapter. `name` is the
    model's id (a UUID, as text or not), its `model_id` (the provider's name for it,
    e.g. `gpt-4o-mini`) or its public name (`ai_model_public_names`, e.g.
    `openai/gpt-4o-mini`); an id match wins, then the first `model_id` match by display
    name, then the public name. `with_chain` also fetches its fallbacks (for `ai_model_chain`).
    """
    if not name:
        return None
    pk = _as_uuid(name)
    match = Q(model_id=str(name))
    if pk is not None:
        match |= Q(pk=pk)
    query = _servable(purpose).filter(match)
    if with_chain:
        query = _with_chain(query, purpose)
    found = [model async for model in query]
    model = next((m for m in found if m.pk == pk), None) or next(iter(found), None)
    if model is None and "/" in str(name):  # `<provider slug>/<model_id>`
        slug, model_id = str(name).split("/", 1)
        query = _servable(purpose).filter(model_id=model_id).order_by("provider__created_at", "provider__name")
        if with_chain:
            query = _with_chain(query, purpose)
        model = next((m for m in [m async for m in query] if slugify(m.provider.name) == slug), None)
    return model


def ai_model_public_names(models: Iterable[AIModel]) -> dict[uuid.UUID, str]:
    """`{model id: public name}`, the stable readable id `/v1/models` lists: the provider's
    name as a slug and the model's `model_id`, `<slug>/<model_id>` (e.g. `openai/gpt-4o-mini`,
    `embedded-local-model/qwen2.5-0.5b`). Providers whose names give the same slug: the
    models of the older provider keep the name, the others are named by their UUID.
    `models` need their provider joined; no query."""
    names: dict[uuid.UUID, str] = {}
    taken: dict[str, tuple] = {}
    ordered = sorted(models, key=lambda m: (m.provider.created_at, m.provider.name))
    for model in ordered:
        name = f"{slugify(model.provider.name) or 'provider'}/{model.model_id}"
        owner = taken.setdefault(name, (model.provider_id,))
        names[model.pk] = name if owner == (model.provider_id,) else str(model.pk)
    return names


async def ai_model_list() -> list[AIModel]:
    """Models users may pick: usable and with an adapter for their provider kind; the admin's
    default model (`is_default`) first, then by name."""
    return [m async for m in _servable().order_by("-is_default", "display_name")]


async def ai_model_resolve(*, model_id: Any = None, defaults: Iterable[Any] = ()) -> AIModel:
    """The chat model a reply should use, with its fallbacks fetched (`ai_model_chain`):
    the one `model_id` names (see `ai_model_find`; the API sends its UUID), else the first
    usable of `defaults` (model ids, None skipped: e.g. the replaced reply's model, the
    session's default) not marked unavailable (a local runtime's model that vanished), else
    the embedded model, else the first usable model (available ones first). A model named
    by `model_id` is used even if marked unavailable: its runtime may be back, and if not
    the reply fails (or falls back) with the provider's error. Raises
    DomainError (code `invalid_model`, field `model`) when `model_id` names no usable
    model, and (code `no_model`) when no model exists at all."""
    chat = AIModel.Purpose.CHAT
    if model_id is not None:
        model = await ai_model_find(purpose=chat, name=model_id, with_chain=True)
        if model is not None:
            return model
        pk = _as_uuid(model_id)
        if pk is not None and await usable_models().filter(pk=pk).aexists():
            raise DomainError("This model's provider kind is not supported yet.", code="invalid_model", field="model")
        raise DomainError("Unknown or disabled model.", code="invalid_model", field="model")
    ids = [pk for pk in (_as_uuid(d) for d in defaults if d is not None) if pk is not None]
    if ids:
        found = {m.pk: m async for m in _with_chain(_servable().filter(pk__in=ids, available=True), chat)}
        for pk in ids:
            if pk in found:
                return found[pk]
    default = await _with_chain(_servable().filter(is_default=True, available=True), chat).afirst()
    if default is not None:
        return default
    local = await _with_chain(_servable().filter(provider__kind=Provider.Kind.LOCAL), chat).order_by("created_at").afirst()
    if local is not None:
        return local
    async for model in _with_chain(_servable(), chat).order_by("-available", "display_name"):
        return model
    raise DomainError("No model is configured; run `manage.py ensure_local_model`.", code="no_model", field="model")


async def ai_model_local() -> AIModel | None:
    """The usable chat model of the embedded provider (the oldest, should there be several)."""
    return await _servable().filter(provider__kind=Provider.Kind.LOCAL).order_by("created_at").afirst()


async def ai_model_chain(*, model: AIModel) -> list[AIModel]:
    """`model` followed by its usable fallback models, in their configured order. No query
    for a model from `ai_model_resolve` (its fallbacks came with it)."""
    entries = getattr(model, "usable_fallbacks", None)
    if entries is None:
        fetched = await _with_chain(AIModel.objects.filter(pk=model.pk), model.purpose).afirst()
        entries = fetched.usable_fallbacks if fetched is not None else []
    return [model, *(e.fallback for e in entries if e.fallback_id != model.id)]


# --- assistants -------------------------------------------------------------------------------

#: How `/v1` names an assistant (`assistant_public_names`): `assistant/<slug of its name>`.
ASSISTANT_PREFIX = "assistant/"


def assistants_usable(*, user_id: Any) -> QuerySet[Assistant]:
    """The enabled assistants user `user_id` may use (a queryset, by name): the admins' ones
    with no grant, the admins' ones granted to the user or to one of the user's groups, and
    the user's own private ones. Another user's private assistant is never among them."""
    grants = AssistantGrant.objects.filter(assistant=OuterRef("pk"))
    granted = grants.filter(Q(user_id=user_id) | Q(group__user=user_id))
    admins = Q(owner__isnull=True) & (~Exists(grants) | Exists(granted))
    return Assistant.objects.filter(admins | Q(owner_id=user_id), enabled=True).order_by("name", "created_at")


async def assistant_list_for(*, user_id: Any) -> list[Assistant]:
    """`assistants_usable` as a list (one query)."""
    return [a async for a in assistants_usable(user_id=user_id)]


async def assistant_get_for(*, user_id: Any, assistant_id: Any) -> Assistant:
    """The assistant `assistant_id` if user `user_id` may use it; raises NotFound (field
    `assistant`) for a malformed or unknown id, a disabled assistant, another user's private
    one or one not granted to the user: never told apart. One query."""
    pk = _as_uuid(assistant_id)
    found = await assistants_usable(user_id=user_id).filter(pk=pk).afirst() if pk is not None else None
    if found is None:
        raise NotFound("No such assistant.", field="assistant")
    return found


def assistant_public_names(assistants: Iterable[Assistant]) -> dict[uuid.UUID, str]:
    """`{assistant id: name on /v1}`: `assistant/<slug of its name>`; when several of
    `assistants` give the same slug, the oldest keeps it and the others are
    `assistant/<id>`. No query."""
    names: dict[uuid.UUID, str] = {}
    taken: set[str] = set()
    for assistant in sorted(assistants, key=lambda a: (a.created_at, str(a.pk))):
        name = f"{ASSISTANT_PREFIX}{slugify(assistant.name) or 'assistant'}"
        names[assistant.pk] = name if name not in taken else f"{ASSISTANT_PREFIX}{assistant.pk}"
        taken.add(name)
    return names


async def assistant_find_for(*, user_id: Any, name: str) -> Assistant | None:
    """The assistant of user `user_id` that a `/v1` model name names (`assistant/<slug>` as
    `assistant_public_names` gives it, or `assistant/<id>`), or None (also for a name not
    starting with `assistant/`, and for an assistant the user may not use)."""
    if not isinstance(name, str) or not name.startswith(ASSISTANT_PREFIX):
        return None
    usable = await assistant_list_for(user_id=user_id)
    rest = name[len(ASSISTANT_PREFIX):]
    by_id = next((a for a in usable if str(a.pk) == rest.lower()), None)
    if by_id is not None:
        return by_id
    names = assistant_public_names(usable)
    return next((a for a in usable if names[a.pk] == name), None)
