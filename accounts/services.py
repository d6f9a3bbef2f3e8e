"""Writes for API keys, the login check (throttled, off the event loop) and the first account."""

from __future__ import annotations

import secrets
import threading
import zlib
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import ApiToken, api_key_digest
from accounts.selectors import api_token_count
from accounts.throttling import LoginIPThrottle, LoginUsernameThrottle
from core.errors import DomainError, TooManyRequests
from core.runtime import runtime

#: PostgreSQL advisory lock held while the first account is created (any 64-bit number
#: no other code uses; this one is the CRC-32 of the service's name).
FIRST_ADMIN_LOCK = zlib.crc32(b"accounts.first_admin_create")


async def api_token_create(*, user: AbstractBaseUser, name: str = "") -> tuple[ApiToken, str]:
    """Create a key for `user`; returns the row and the plain key, which is never stored."""
    key = secrets.token_urlsafe(32)
    token = await ApiToken.objects.acreate(
        user=user, name=name[:100], prefix=key[:8], key_hash=api_key_digest(key)
    )
    return token, key


async def api_token_issue(*, user: AbstractBaseUser, name: str) -> tuple[ApiToken, str]:
    """A new key named `name` for `user` from the keys page or `POST /api/keys`; returns the
    row and the plain key. Raises `DomainError` (400 `too_many_keys`, field `name`) when the
    user already holds `API_KEYS_PER_USER` live keys."""
    if await api_token_count(user_id=user.pk) >= settings.API_KEYS_PER_USER:
        raise DomainError(f"You already hold {settings.API_KEYS_PER_USER} API keys; revoke one first.",
                          code="too_many_keys", field="name")
    return await api_token_create(user=user, name=name)


async def api_token_revoke(*, token: ApiToken) -> None:
    """Revoke a key; later requests with it answer 401."""
    token.revoked_at = timezone.now()
    await token.asave(update_fields=["revoked_at"])
    runtime().rows.pop(("token", token.key_hash))  # other workers: within ROW_CACHE_TTL_S


def login_check(*, request: HttpRequest, username: str, password: str, slots: threading.Semaphore) -> Any:
    """The active user with this username and password, or None; throttled. Sync: it hashes.

    Every attempt is counted per client address (`AUTH_THROTTLE_IP_RATE`) and per username
    (`AUTH_THROTTLE_USERNAME_RATE`) before the password is checked, and given back when it
    was right, so only failures use up the rates (accounts/throttling.py). Raises
    `TooManyRequests` (429 `rate_limited`, `retry_after_s` until the window ends) without
    checking the password when either rate is used up, and 429 `login_busy` when no slot
    of `slots` (the runtime's `password_checks`) frees within `AUTH_HASH_WAIT_S`. Runs
    Django's backends (`auth.authenticate`: a user query and a password hash of about
    0.3 s, also for an unknown username) holding a slot, so call it on a thread that may
    block: `alogin_check` in async code.
    """
    by_ip = LoginIPThrottle()
    if not by_ip.allow_request(request, None):
        raise TooManyRequests(
            f"Too many failed logins from this address. Try again in {by_ip.wait():.0f} s.",
            retry_after_s=by_ip.wait(),
        )
    by_name = LoginUsernameThrottle(username)
    if not by_name.allow_request(request, None):
        by_ip.refund()  # not tried: it does not count against the address
        raise TooManyRequests(
            f"Too many failed logins for this username. Try again in {by_name.wait():.0f} s.",
            retry_after_s=by_name.wait(), field="username",
        )
    if not slots.acquire(timeout=settings.AUTH_HASH_WAIT_S):
        by_ip.refund()
        by_name.refund()
        raise TooManyRequests(
            "The server is busy checking other logins. Try again shortly.", retry_after_s=5, code="login_busy"
        )
    try:
        user = auth.authenticate(request, username=username, password=password)
    finally:
        slots.release()
    if user is not None:
        by_ip.refund()
        by_name.refund()
    return user


async def alogin_check(*, request: HttpRequest, username: str, password: str) -> Any:
    """`login_check` on the request's thread, so the password hash never blocks the event loop.

    thread_sensitive=True runs it on the request's own thread, not on one shared thread:
    Django's ASGI handler gives every request its own ThreadSensitiveContext, whose
    executor is a thread of that request alone, so logins neither queue behind each other
    nor behind other requests' sync code (only on the `password_checks` slots, which bound
    the cores hashing takes). And Django gives that thread's database connection back when
    the request ends (`request_finished` runs on the same thread). thread_sensitive=False
    would use the loop's default executor, whose threads keep the connection the user query
    opens for good (a pooled PostgreSQL connection each, never returned).
    """
    slots = runtime().password_checks
    return await sync_to_async(login_check, thread_sensitive=True)(
        request=request, username=username, password=password, slots=slots
    )


def _first_admin_save(user: AbstractBaseUser) -> bool:
    with transaction.atomic():
        # One critical section across workers: on SQLite the transaction is IMMEDIATE
        # (settings), so it holds the write lock from its start and a second one waits; on
        # PostgreSQL a transaction-scoped advisory lock serialises the check and the insert.
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [FIRST_ADMIN_LOCK])
        if get_user_model().objects.exists():
            return False
        user.is_staff = True
        user.is_superuser = True
        user.save()
    return True


async def first_admin_create(*, user: AbstractBaseUser) -> bool:
    """Save `user` (unsaved, password already set) as the first account, a superuser.

    Returns False, saving nothing, when any account exists: of two concurrent first-run
    set-ups (any workers) exactly one creates its account. Supports SQLite and PostgreSQL.
    """
    # transaction.atomic() has no async API: the check and the insert run on one thread.
    return await sync_to_async(_first_admin_save)(user)
