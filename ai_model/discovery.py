"""Local runtimes found by themselves: probe `LOCAL_RUNTIMES`, register what answers.

Each entry of `LOCAL_RUNTIMES` (`kind=url`, comma-separated) names a runtime that may run
on this machine: `ollama` (listing `GET /api/tags`), `llamacpp` (a llama.cpp server,
`GET /v1/models`) or `lmstudio` / `openai_compatible` (`GET {url}/models`, the url with
its `/v1`). Each is probed with the adapter's own `list_models()` within
`DISCOVERY_TIMEOUT_S` (connecting included). `local_runtimes_discover` then, in one
transaction:

- a runtime that answered gets a provider (the one registered for it before, or one an
  admin added with the same kind and URL, or a new one named e.g. "Ollama (127.0.0.1:11434)"),
  and each model it lists that the provider lacks is added, enabled;
- a listed model that was marked unavailable is available again;
- a model the runtime no longer lists, and every model of a runtime that did not answer, is
  marked unavailable (`AIModel.available = False`). Nothing is deleted, and nothing an admin
  edits (names, enabled, limits, prices, the provider's settings) is written.

Several workers start together and each discovers: the writes are serialized (PostgreSQL:
a transaction-scoped advisory lock; SQLite: its `IMMEDIATE` transactions hold the write lock)
and idempotent, and the unique constraints (one provider per runtime, one model per provider
and `model_id`) stop any duplicate. It runs at start-up in the background
(`DISCOVERY_ON_START`, `config.runtime.Runtime.preload`), from the Providers admin and from
`manage.py check_providers --discover`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ai_model.models import AIModel, Provider
from ai_model.providers.registry import adapter_class
from core.db import db_thread

logger = logging.getLogger(__name__)

#: Runtime labels of LOCAL_RUNTIMES: (provider kind, the name providers get).
RUNTIME_KINDS: dict[str, tuple[str, str]] = {
    "ollama": (Provider.Kind.OLLAMA, "Ollama"),
    "llamacpp": (Provider.Kind.LLAMACPP, "llama.cpp"),
    "lmstudio": (Provider.Kind.OPENAI_COMPATIBLE, "LM Studio"),
    "openai_compatible": (Provider.Kind.OPENAI_COMPATIBLE, "OpenAI-compatible"),
}

#: pg_advisory_xact_lock key of discovery writes (any constant unique in this database).
ADVISORY_LOCK_KEY = 0x6C6F63616C  # "local"


@dataclass(frozen=True)
class LocalRuntime:
    """One entry of LOCAL_RUNTIMES: its label (`ollama`), provider kind and base URL."""

    label: str
    kind: str
    base_url: str

    @property
    def key(self) -> str:
        """What `Provider.discovered_as` stores: `label url`."""
        return f"{self.label} {self.base_url}"

    @property
    def provider_name(self) -> str:
        """The name a new provider gets: e.g. "Ollama (127.0.0.1:11434)"."""
        return f"{RUNTIME_KINDS[self.label][1]} ({urlsplit(self.base_url).netloc})"


def local_runtimes_parse(value: str) -> list[LocalRuntime]:
    """The runtimes of a LOCAL_RUNTIMES value (`kind=url,kind=url`; blank entries ignored).
    Raises ValueError naming the bad entry: an unknown kind, or a URL that is not http(s)."""
    runtimes = []
    for entry in value.split(","):
        entry = entry.strip()
        if not entry:
            continue
        label, sep, url = (part.strip() for part in entry.partition("="))
        label = label.lower()
        if not sep or label not in RUNTIME_KINDS:
            raise ValueError(f"LOCAL_RUNTIMES entry {entry!r}: expected kind=url, kind one of {', '.join(RUNTIME_KINDS)}")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"LOCAL_RUNTIMES entry {entry!r}: {url!r} is not an http(s) URL")
        runtimes.append(LocalRuntime(label=label, kind=RUNTIME_KINDS[label][0], base_url=url.rstrip("/")))
    return runtimes


@dataclass
class RuntimeProbe:
    """What probing one runtime found: the model ids it lists (None: it did not answer,
    `error` says why) and how long the probe took (ms)."""

    runtime: LocalRuntime
    models: list[str] | None
    error: str = ""
    elapsed_ms: float = 0.0

    @property
    def answered(self) -> bool:
        return self.models is not None


@dataclass
class RuntimeResult:
    """What one discovery did for one runtime. `provider` is the provider's name (empty:
    the runtime did not answer and has none); model ids in each list."""

    probe: RuntimeProbe
    provider: str = ""
    provider_created: bool = False
    added: list[str] = field(default_factory=list)
    available_again: list[str] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """A human-readable account (check_providers, logs)."""
        probe = self.probe
        head = f"{probe.runtime.label} {probe.runtime.base_url}: "
        if probe.answered:
            head += f"answered in {probe.elapsed_ms:.0f} ms, {len(probe.models)} model(s)"
        else:
            head += f"no answer ({probe.error})"
        if self.provider:
            head += f" -> provider {self.provider!r}" + (" (new)" if self.provider_created else "")
        lines = [head]
        for title, ids in (("added", self.added), ("available again", self.available_again),
                           ("marked unavailable", self.unavailable)):
            if ids:
                lines.append(f"  {title}: {', '.join(ids)}")
        return lines


async def local_runtime_probe(runtime: LocalRuntime) -> RuntimeProbe:
    """List the models of `runtime` within DISCOVERY_TIMEOUT_S; never raises for a
    runtime that is absent or answers something else than a model list."""
    timeout = settings.DISCOVERY_TIMEOUT_S
    started = time.perf_counter()
    name = runtime.provider_name
    try:
        cls = adapter_class(runtime.kind)
        adapter = cls(Provider(name=name, kind=runtime.kind, base_url=runtime.base_url))
        adapter.probe_timeout_s = timeout  # get_json's whole-call limit, connecting included
        models = await asyncio.wait_for(adapter.list_models(), timeout + 0.5)
        if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
            raise ValueError("the model list is not a list of names")
        # Names longer than the column cannot be stored (a runtime's oddity: skipped, not fatal).
        names = [m for m in dict.fromkeys(models) if len(m) <= AIModel._meta.get_field("model_id").max_length]
        return RuntimeProbe(runtime, names, elapsed_ms=(time.perf_counter() - started) * 1000)
    except Exception as exc:  # absent, refused, timed out, not a runtime: all mean "not there"
        detail = (getattr(exc, "message", None) or str(exc) or type(exc).__name__).removeprefix(f"{name}: ")
        return RuntimeProbe(runtime, None, error=detail[:300],
                            elapsed_ms=(time.perf_counter() - started) * 1000)


async def local_runtimes_discover(*, runtimes: list[LocalRuntime] | None = None) -> list[RuntimeResult]:
    """Probe `runtimes` (default: LOCAL_RUNTIMES) at once and register what answered (see
    the module docstring); one result per runtime, in order. Raises ValueError for a bad
    LOCAL_RUNTIMES. Safe to run in several workers at once."""
    if runtimes is None:
        runtimes = local_runtimes_parse(settings.LOCAL_RUNTIMES)
    if not runtimes:
        return []
    probes = await asyncio.gather(*(local_runtime_probe(r) for r in runtimes))
    return await _discovery_store(list(probes), timezone.now())


async def local_runtimes_discover_logged() -> None:
    """`local_runtimes_discover` for start-up: logs what it found, never raises."""
    try:
        results = await local_runtimes_discover()
    except Exception:
        logger.exception("discovery of local runtimes failed")
        return
    for result in results:
        log = logger.info if result.probe.answered or result.unavailable else logger.debug
        log("local runtime %s", "\n".join(result.lines()))


@db_thread
def _discovery_store(probes: list[RuntimeProbe], now: datetime) -> list[RuntimeResult]:
    """The writes of one discovery, in one transaction, one discovery at a time."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
        return [_runtime_store(probe, now) for probe in probes]


def _provider_for(probe: RuntimeProbe) -> tuple[Provider | None, bool]:
    """The provider of a probed runtime and whether it was created now: the one registered
    for it, else one an admin added with its kind and URL, else (if it answered) a new one."""
    runtime = probe.runtime
    provider = Provider.objects.filter(discovered_as=runtime.key).first()
    if provider is None:
        provider = (Provider.objects.filter(kind=runtime.kind, base_url__in=[runtime.base_url, runtime.base_url + "/"])
                    .order_by("created_at").first())
    if provider is not None or not probe.answered:
        return provider, False
    name, n = runtime.provider_name, 1
    while Provider.objects.filter(name=name).exists():  # an admin's provider has the name
        n += 1
        name = f"{runtime.provider_name} {n}"
    # get_or_create: should a writer outside the lock have added it, the constraint's row is read back.
    return Provider.objects.get_or_create(
        discovered_as=runtime.key,
        defaults={"name": name, "kind": runtime.kind, "base_url": runtime.base_url, "connect_timeout_s": 2.0},
    )


def _runtime_store(probe: RuntimeProbe, now: datetime) -> RuntimeResult:
    provider, created = _provider_for(probe)
    result = RuntimeResult(probe, provider=provider.name if provider else "", provider_created=created)
    if provider is None:
        return result
    stored = {m.model_id: m for m in AIModel.objects.filter(provider=provider, purpose=AIModel.Purpose.CHAT)}
    listed = probe.models or []
    title = RUNTIME_KINDS[probe.runtime.label][1]
    for model_id in listed:
        model = stored.get(model_id)
        if model is None:
            _, made = AIModel.objects.get_or_create(
                provider=provider, model_id=model_id,
                defaults={"display_name": f"{model_id} ({title})"[:200], "discovered_at": now, "last_seen_at": now},
            )
            if made:
                result.added.append(model_id)
        elif not model.available:
            result.available_again.append(model_id)
    # update(): only these columns, so nothing an admin set is written (nor `updated_at`).
    AIModel.objects.filter(provider=provider, model_id__in=listed).update(available=True, last_seen_at=now)
    gone = sorted(mid for mid, m in stored.items() if mid not in listed and m.available)
    AIModel.objects.filter(provider=provider, model_id__in=gone).update(available=False)
    result.unavailable = gone
    return result
