"""URL map: the browser pages, the health checks, and the REST API (adrf viewsets on
adrf routers: DRF's router would map the sync action names); and `lean_routes`, the hot
requests `core.lean` serves without Django when it can (Django's view of the same path
answers every other case)."""

from __future__ import annotations

from adrf.routers import DefaultRouter
from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from accounts.views import ApiKeyViewSet, TokenView, login_view, logout_view, setup_view
from ai_model.views import AIModelViewSet, AssistantViewSet, AudioViewSet, OpenAIAudioViewSet, setup_provider_view, transcription_body_limit
from chat_session.views import ChatSessionViewSet, chat_page, settings_page
from core.http import HealthzView, ReadyzView
from core.lean import LeanRoute
from core.views import metrics
from core.errors import error_body, openai_error_body
from files.views import MULTIPART_ALLOWANCE, FileViewSet, upload_body_limit
from message.lean_views import session_messages_stream
from message.transfer_views import SearchView, SessionTransferViewSet
from message.openai_api.views import ChatCompletionViewSet, OpenAIModelViewSet
from message.views import MessageViewSet, ReplyViewSet, SessionMessageViewSet, UsageView


def _router() -> DefaultRouter:
    router = DefaultRouter(trailing_slash=False)
    router.include_root_view = False
    # No `.json` suffix routes: the actions take no `format` argument (a suffix answered 500).
    router.include_format_suffixes = False
    return router


api = _router()
api.register("models", AIModelViewSet, basename="model")
api.register("assistants", AssistantViewSet, basename="assistant")
# Before the session detail routes, so `sessions/import` is not read as a session id.
api.register("sessions", SessionTransferViewSet, basename="session-transfer")  # /import, /{session_id}/export
api.register("sessions", ChatSessionViewSet, basename="session")
api.register("sessions", SessionMessageViewSet, basename="session-message")  # /{session_id}/messages, /compare
api.register("messages", MessageViewSet, basename="message")
api.register("messages", ReplyViewSet, basename="reply")  # /{message_id}/stream, /regenerate
api.register("audio", AudioViewSet, basename="audio")
api.register("files", FileViewSet, basename="file")
api.register("keys", ApiKeyViewSet, basename="key")

openai = _router()
openai.register("audio", OpenAIAudioViewSet, basename="openai-audio")
openai.register("chat", ChatCompletionViewSet, basename="openai-chat")  # /v1/chat/completions
openai.register("models", OpenAIModelViewSet, basename="openai-model")

handler404 = "core.http.api_not_found"

urlpatterns = [
    path("", chat_page, name="home"),
    path("s/<uuid:session_id>", chat_page, name="chat-session"),
    path("settings/", settings_page, name="settings"),
    path("setup/", setup_view, name="setup"),
    path("setup/provider/", setup_provider_view, name="setup_provider"),
    path("login/", login_view, name="login"),
    path("logout/", logout_view, name="logout"),
    path("admin/", admin.site.urls),
    path("healthz", HealthzView.as_view()),
    path("readyz", ReadyzView.as_view()),
    # Prometheus scrapes; not part of the API (staff session or METRICS_TOKEN, see core.views).
    path("metrics", metrics, name="metrics"),
    path("api/auth/token", TokenView.as_view()),
    path("api/usage", UsageView.as_view()),
    path("api/search", SearchView.as_view()),
    # Public, like the API contract they describe (and sync views: no async authenticator).
    path("api/schema", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[AllowAny]), name="schema"),
    # The split view serves its start-up script as a file (`?script`): no inline script under the CSP.
    path("api/docs", SpectacularSwaggerSplitView.as_view(url_name="schema", authentication_classes=[], permission_classes=[AllowAny]),
         name="docs"),
    path("api/", include(api.urls)),
    path("v1/", include(openai.urls)),
]

lean_routes = [
    # A streamed reply (SessionMessageViewSet.messages serves the rest of this path).
    LeanRoute("POST", r"/api/sessions/(?P<session_id>[^/]+)/messages", session_messages_stream, allow="GET, POST"),
]

#: The upload routes whose bodies may be as large as the audio limit allows.
TRANSCRIPTION_PATHS = frozenset({"/api/audio/transcriptions", "/v1/audio/transcriptions"})
#: The chat import route (`POST /api/sessions/import`).
IMPORT_PATH = "/api/sessions/import"
#: The attachment upload route (`POST /api/files`).
FILE_UPLOAD_PATH = "/api/files"


def body_limit(path: str) -> int:
    """The most bytes a request body to `path` may have (`core.body_limit`): the audio upload
    limit for the transcription routes, FILE_MAX_BYTES and the multipart envelope for file
    uploads, OPENAI_API_BODY_MAX_BYTES for chat completions (inline images),
    `REQUEST_BODY_MAX_BYTES` everywhere else."""
    if path in TRANSCRIPTION_PATHS:
        return transcription_body_limit()
    if path == FILE_UPLOAD_PATH:
        return upload_body_limit()
    if path == IMPORT_PATH:
        return settings.IMPORT_MAX_BYTES + MULTIPART_ALLOWANCE
    if path == "/v1/chat/completions":
        return max(settings.OPENAI_API_BODY_MAX_BYTES, settings.REQUEST_BODY_MAX_BYTES)
    return settings.REQUEST_BODY_MAX_BYTES


#: The routes that answer errors in OpenAI's shape (`core.errors.openai_error_body`).
OPENAI_ERROR_PATHS = ("/v1/chat/", "/v1/models")


def body_error(path: str, exc: Exception) -> tuple[int, dict]:
    """A refused body's answer (`core.body_limit`): OpenAI's error shape on its routes,
    the API's elsewhere."""
    return openai_error_body(exc) if path.startswith(OPENAI_ERROR_PATHS) else error_body(exc)
