"""The admin site: Django's, with its login form throttled like `/login/` (accounts.services.login_check).

Installed as the default site by `accounts.apps.AdminConfig` (INSTALLED_APPS), so every
`admin.site.register` in the apps registers on it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from accounts.forms import AdminLoginForm
from core.errors import TooManyRequests


class AdminSite(admin.AdminSite):
    """Django's admin site; a login past the rates answers 429 with `Retry-After`."""

    login_form = AdminLoginForm

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        # A sync view: Django's ASGI handler runs it on the request's own thread, so the
        # password hash inside is already off the event loop.
        from accounts.views import throttled_page

        try:
            return super().login(request, extra_context)
        except TooManyRequests as exc:
            return throttled_page(request, exc)
