"""The admin site: Django's, with its login form throttled like `/login/` (accounts.services.login_check).

Installed as the default site by `accounts.apps.AdminConfig` (INSTALLED_APPS), so every
`admin.site.register` in the apps registers on it.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from accounts.forms import AdminLoginForm
from core.errors import TooManyRequests
from core.runtime import runtime


class AdminSite(admin.AdminSite):
    """Django's admin site; a login past the rates answers 429 with `Retry-After`."""

    login_form = AdminLoginForm

    async def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Django's (sync) login view on the request's thread, with the runtime's hash slots."""
        from accounts.views import throttled_page

        request.password_checks = runtime().password_checks  # read by AdminLoginForm
        try:
            return await sync_to_async(super().login)(request, extra_context)
        except TooManyRequests as exc:
            return throttled_page(request, exc)
