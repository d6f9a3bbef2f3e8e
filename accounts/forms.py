"""The login forms of the browser page and of admin, checking passwords through `login_check`."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from accounts.services import login_check


class ThrottledLoginMixin:
    """`AuthenticationForm.clean` with `login_check` (throttled) in place of `authenticate`.

    The view sets `request.password_checks` (the runtime's slots, reached on the event
    loop) before validating on a thread. A used-up rate raises `TooManyRequests` out of
    `is_valid()`; the view renders it (429).
    """

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            self.user_cache = login_check(
                request=self.request, username=username, password=password, slots=self.request.password_checks
            )
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class LoginForm(ThrottledLoginMixin, AuthenticationForm):
    """The `/login/` form."""


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    """The `/admin/login/` form (staff accounts only, as Django's)."""
