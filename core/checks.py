"""System checks of the deployment (run by `manage.py check`, `migrate` and so `make run`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


def workers_problem() -> str:
    """Why the configured workers cannot run, or "" when they can."""
    if settings.WORKERS > 1 and not settings.REDIS_URL:
        return (
            f"{settings.WORKERS} workers (WEB_CONCURRENCY) need REDIS_URL: without Redis a reply's "
            "events, its resume and its cancel stay inside the worker that generates it. "
            "Set REDIS_URL=redis://127.0.0.1:6379/0, or run one worker."
        )
    return ""


@checks.register(checks.Tags.compatibility)
def check_workers(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    problem = workers_problem()
    return [checks.Error(problem, id="core.E001")] if problem else []


@checks.register(checks.Tags.security)
def check_field_encryption_keys(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """FIELD_ENCRYPTION_KEYS must be Fernet keys, or no provider key can be stored or read."""
    from core.encryption import fernet

    try:
        fernet()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="core.E002")]
    return []
