"""The TLS settings come from the environment: off by default, `HTTPS=true` turns on the
secure cookies and HSTS, each variable overrides it, and the responses carry them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter (settings are read once per process): prints the settings and
# what Django's security middleware (ours) and the CSRF cookie make of an https request.
PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.http import HttpResponse
from django.test import RequestFactory
from django.middleware.csrf import get_token
from core.middleware import CsrfViewMiddleware, SecurityMiddleware

def view(request):
    get_token(request)
    return HttpResponse("ok")

request = RequestFactory().get("/", secure=True, HTTP_X_FORWARDED_PROTO="https")
response = SecurityMiddleware(CsrfViewMiddleware(view))(request)
plain = SecurityMiddleware(view)(RequestFactory().get("/", HTTP_X_FORWARDED_PROTO="https"))
names = ["SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
         "SECURE_HSTS_PRELOAD", "SECURE_SSL_REDIRECT", "SECURE_PROXY_SSL_HEADER"]
print(json.dumps({
    "settings": {n: getattr(settings, n) for n in names},
    "hsts": response.get("Strict-Transport-Security"),
    "csrf_cookie_secure": bool(response.cookies["csrftoken"]["secure"]),
    "plain_is_secure": plain.status_code == 200 and plain.get("Strict-Transport-Security") is not None,
}))
"""


def _probe(tmp_path, **env_vars: str) -> dict:
    ours = ("SECURE_", "HTTPS", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "REDIS_URL", "DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update(DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings", **env_vars)
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_all_off_by_default(tmp_path):
    got = _probe(tmp_path)
    assert got["settings"] == {
        "SESSION_COOKIE_SECURE": False, "CSRF_COOKIE_SECURE": False, "SECURE_HSTS_SECONDS": 0,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False, "SECURE_HSTS_PRELOAD": False, "SECURE_SSL_REDIRECT": False,
        "SECURE_PROXY_SSL_HEADER": None,
    }
    assert got["hsts"] is None and got["csrf_cookie_secure"] is False
    assert got["plain_is_secure"] is False  # X-Forwarded-Proto is not trusted unless asked


def test_https_switch_turns_on_secure_cookies_and_hsts(tmp_path):
    got = _probe(tmp_path, HTTPS="true")
    assert got["settings"]["SESSION_COOKIE_SECURE"] is True and got["settings"]["CSRF_COOKIE_SECURE"] is True
    assert got["hsts"] == "max-age=31536000" and got["csrf_cookie_secure"] is True


def test_each_variable_overrides(tmp_path):
    got = _probe(tmp_path, HTTPS="true", SESSION_COOKIE_SECURE="false", SECURE_HSTS_SECONDS="600",
                 SECURE_HSTS_INCLUDE_SUBDOMAINS="true", SECURE_HSTS_PRELOAD="true", SECURE_SSL_REDIRECT="true",
                 SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https")
    assert got["settings"]["SESSION_COOKIE_SECURE"] is False and got["settings"]["SECURE_SSL_REDIRECT"] is True
    assert got["settings"]["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert got["hsts"] == "max-age=600; includeSubDomains; preload"
    assert got["plain_is_secure"] is True  # the trusted header makes a proxied request secure


def test_a_malformed_proxy_header_stops_start_up(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(DATA_DIR=str(tmp_path), SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO")
    done = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "SECURE_PROXY_SSL_HEADER must be `HEADER,value`" in done.stderr

