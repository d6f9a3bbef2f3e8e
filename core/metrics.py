"""Prometheus metrics of one worker, and their text exposition for `GET /metrics`.

`Metrics` builds every metric on a registry of its own (one per runtime object, so each
test's fresh runtime starts from nothing); code reaches it as `runtime().metrics`.
Recording is a counter increment or a histogram observation, no I/O.

Several workers (multiprocess mode): when the environment variable
`PROMETHEUS_MULTIPROC_DIR` names a directory *before* `prometheus_client` is first
imported (the launcher sets it, one fresh empty directory per start), every worker
writes its values to memory-mapped files there and `metrics_exposition` reads them all
with `MultiProcessCollector`, so any worker answers for the whole server. Counters and
histograms of a worker that died stay in the sums (they must never go back). Gauges
marked `live*` are dropped for a dead worker: uvicorn gives no hook when a worker dies
(gunicorn's `child_exit` would call `mark_process_dead`), so `metrics_exposition` does it
itself, for every pid in the directory that no longer runs.

Metrics (seconds and counts; `model` is the model id the provider knows, `provider` the
provider's name in admin):

    chat_replies_started_total{model}             replies started (the model asked for)
    chat_replies_finished_total{model,status}     replies ended: complete, error, cancelled,
                                                  interrupted (the model that answered)
    chat_reply_ttfb_seconds{model}                histogram: model call start -> first text
    chat_reply_duration_seconds{model}            histogram: model call start -> end
    chat_tokens_total{model,kind}                 kind: prompt | completion
    chat_generations_running                      gauge: replies generating now
    chat_provider_errors_total{provider,code}     failed provider calls (after retries) by
                                                  error code (`ai_model.errors`)
    chat_breaker_open{provider}                   gauge: 1 from the failure that opens the
                                                  circuit breaker until a call succeeds again
    chat_event_log_append_seconds{store}          histogram: one event-log append to Redis (store
                                                  `redis`; in-memory appends are not timed)

TTFB, duration and tokens are observed per model call, i.e. per stored assistant message
(a reply that calls tools has one per round), with the values stored on the message.
"""

from __future__ import annotations

import os
import re

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

#: First token: the embedded model answers in tens of milliseconds, remote ones in about a
#: second, long prompts or queued upstreams in tens of seconds (the first-token timeout is 120 s).
TTFB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0, 120.0)
#: A whole model call: from a failed connection (well under a second) to long answers (minutes).
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0, 240.0, 480.0, 900.0)
#: One append: microseconds in memory, about a millisecond on Redis, up to its socket timeout (10 s).
APPEND_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 10.0)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str:
    """The multiprocess directory (`PROMETHEUS_MULTIPROC_DIR`), or "" in single-process mode."""
    return os.environ.get(MULTIPROC_ENV, "")


class Metrics:
    """The metrics of one runtime, on their own `registry` (see module docstring)."""

    def __init__(self) -> None:
        if multiprocess_dir():  # values are files there: a missing directory would fail on first use
            os.makedirs(multiprocess_dir(), exist_ok=True)
        self.registry = registry = CollectorRegistry()
        self.replies_started = Counter(
            "chat_replies_started", "Replies started, by the model asked for.", ["model"], registry=registry)
        self.replies_finished = Counter(
            "chat_replies_finished", "Replies ended, by the model that answered and final status.",
            ["model", "status"], registry=registry)
        self.ttfb = Histogram(
            "chat_reply_ttfb_seconds", "Time from the start of a model call to its first text.", ["model"],
            buckets=TTFB_BUCKETS, registry=registry)
        self.duration = Histogram(
            "chat_reply_duration_seconds", "Time from the start of a model call to its end.", ["model"],
            buckets=DURATION_BUCKETS, registry=registry)
        self.tokens = Counter(
            "chat_tokens", "Tokens of model calls: kind prompt or completion.", ["model", "kind"], registry=registry)
        # livesum: the sum over live workers (a dead worker's generations are not running).
        self.generations_running = Gauge(
            "chat_generations_running", "Replies generating now.", registry=registry, multiprocess_mode="livesum")
        self.provider_errors = Counter(
            "chat_provider_errors", "Failed provider calls (after retries), by error code.", ["provider", "code"],
            registry=registry)
        # Each worker has its own breaker per provider. livemax: 1 when it is open in any live
        # worker (the signal to alert on), one series per provider; `max` would keep a dead
        # worker's 1 for ever, `liveall` would add a series per worker pid.
        self.breaker_open = Gauge(
            "chat_breaker_open", "1 while the provider's circuit breaker is open, else 0.", ["provider"],
            registry=registry, multiprocess_mode="livemax")
        self.event_log_append = Histogram(
            "chat_event_log_append_seconds", "Time to append one event to a reply's event log.", ["store"],
            buckets=APPEND_BUCKETS, registry=registry)

    def reply_started(self, *, model: str) -> None:
        """A reply began generating with `model` (a model id)."""
        self.replies_started.labels(model=model).inc()

    def reply_finished(self, *, model: str, status: str) -> None:
        """A reply ended with `status`; `model` is the model that answered (after fallback)."""
        self.replies_finished.labels(model=model, status=status).inc()

    def model_call_observe(
        self, *, model: str, ttfb_ms: int | None, duration_ms: int | None, prompt_tokens: int | None,
        completion_tokens: int | None,
    ) -> None:
        """One finished model call (a stored assistant message); times in milliseconds, None when unknown."""
        if ttfb_ms is not None:
            self.ttfb.labels(model=model).observe(ttfb_ms / 1000)
        if duration_ms is not None:
            self.duration.labels(model=model).observe(duration_ms / 1000)
        if prompt_tokens:
            self.tokens.labels(model=model, kind="prompt").inc(prompt_tokens)
        if completion_tokens:
            self.tokens.labels(model=model, kind="completion").inc(completion_tokens)

    def provider_error(self, *, provider: str, code: str) -> None:
        """A provider call failed with the stable error `code`."""
        self.provider_errors.labels(provider=provider, code=code).inc()

    def breaker_report(self, *, provider: str, is_open: bool) -> None:
        """The provider's breaker is now open (True) or closed."""
        self.breaker_open.labels(provider=provider).set(1 if is_open else 0)


# Files of live-mode gauges: gauge_livesum_1234.db, gauge_livemax_1234.db, ...
_LIVE_FILE = re.compile(r"^gauge_live[a-z]+_(\d+)\.db$")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def dead_workers_forget(path: str) -> list[int]:
    """Remove the live-gauge files of processes that no longer run (what gunicorn's
    `child_exit` hook does with `mark_process_dead`); returns their pids."""
    pids = {int(m.group(1)) for name in os.listdir(path) if (m := _LIVE_FILE.match(name))}
    dead = sorted(pid for pid in pids if pid != os.getpid() and not _running(pid))
    for pid in dead:
        multiprocess.mark_process_dead(pid, path)
    return dead


def metrics_exposition(metrics: Metrics) -> bytes:
    """The Prometheus text format (`prometheus_client.CONTENT_TYPE_LATEST`) of `metrics`,
    or, in multiprocess mode, of every worker's files in the directory. Reads files in
    multiprocess mode: call it off the event loop."""
    path = multiprocess_dir()
    if not path:
        return generate_latest(metrics.registry)
    dead_workers_forget(path)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)
    return generate_latest(registry)

