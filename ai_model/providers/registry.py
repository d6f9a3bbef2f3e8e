"""Chooses the adapter class for a `Provider.kind`.

Built-in adapters are named by import path; `settings.PROVIDER_ADAPTERS`
(`{kind: "package.module.Class"}`) overrides or adds entries, as Django chooses
backends by import path.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from ai_model.models import Provider
from ai_model.providers.base import BaseProvider
from core.runtime import runtime

BUILTIN_ADAPTERS: Mapping[str, str] = MappingProxyType({
    Provider.Kind.LOCAL: "ai_model.providers.local.LocalProvider",
    Provider.Kind.OPENAI_COMPATIBLE: "ai_model.providers.openai_compatible.OpenAICompatibleProvider",
    Provider.Kind.OPENAI: "ai_model.providers.openai_compatible.OpenAICompatibleProvider",
    Provider.Kind.LLAMACPP: "ai_model.providers.llamacpp.LlamaCppProvider",
    Provider.Kind.ANTHROPIC: "ai_model.providers.anthropic.AnthropicProvider",
    Provider.Kind.GEMINI: "ai_model.providers.gemini.GeminiProvider",
    Provider.Kind.OLLAMA: "ai_model.providers.ollama.OllamaProvider",
})


class UnsupportedProviderKind(LookupError):
    """No adapter is registered for a provider kind."""


def adapter_class(kind: str) -> type[BaseProvider]:
    """The adapter class for `kind`; raises UnsupportedProviderKind."""
    path = {**BUILTIN_ADAPTERS, **getattr(settings, "PROVIDER_ADAPTERS", {})}.get(kind)
    if path is None:
        raise UnsupportedProviderKind(f"No adapter for provider kind {kind!r} yet.")
    return import_string(path)


class AdapterCache:
    """Adapters of this process, one per provider row, built on first use.

    An adapter owns its circuit breaker and health-probe cache, so they live as long as
    the row is unchanged: a row saved in admin (new `updated_at`) or another adapter
    class (settings) builds a fresh adapter, with a closed breaker.
    """

    def __init__(self) -> None:
        self._adapters: dict[Any, tuple[tuple, BaseProvider]] = {}

    def get(self, provider: Provider) -> BaseProvider:
        """The adapter for `provider`; raises UnsupportedProviderKind."""
        cls = adapter_class(provider.kind)
        version = (provider.updated_at, cls)
        cached = self._adapters.get(provider.pk)
        if cached is not None and cached[0] == version:
            return cached[1]
        adapter = cls(provider)
        self._adapters[provider.pk] = (version, adapter)
        return adapter

    def clear(self) -> None:
        """Forget every adapter (runtime shutdown)."""
        self._adapters.clear()


def adapter_for(provider: Provider) -> BaseProvider:
    """The runtime's adapter bound to `provider`'s settings (see `AdapterCache`)."""
    return runtime().adapters.get(provider)


def supported_kinds() -> list[str]:
    """Every `Provider.kind` (built-in or added in settings) that has an adapter now."""
    kinds = {*BUILTIN_ADAPTERS, *getattr(settings, "PROVIDER_ADAPTERS", {})}
    return sorted(kind for kind in kinds if is_supported(kind))


def is_supported(kind: str) -> bool:
    """Whether an adapter exists for `kind`."""
    try:
        adapter_class(kind)
    except UnsupportedProviderKind:
        return False
    return True
