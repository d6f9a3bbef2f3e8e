from adrf.routers import DefaultRouter
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from accounts.views import TokenView, login_view, logout_view, setup_view
from ai_model.audio_views import openai_transcriptions, speech, transcriptions
from ai_model.views import AIModelViewSet
from chat_session.views import ChatSessionViewSet, chat_page
from core.views import healthz, readyz
from message.views import MessageViewSet, message_regenerate_view, message_stream, session_compare, session_messages

router = DefaultRouter(trailing_slash=False)
router.include_root_view = False
router.register("models", AIModelViewSet, basename="model")
router.register("sessions", ChatSessionViewSet, basename="session")
router.register("messages", MessageViewSet, basename="message")

urlpatterns = [
    path("", chat_page, name="home"),
    path("s/<uuid:session_id>", chat_page, name="chat-session"),
    path("setup/", setup_view, name="setup"),
    path("login/", login_view, name="login"),
    path("logout/", logout_view, name="logout"),
    path("admin/", admin.site.urls),
    path("healthz", healthz),
    path("readyz", readyz),
    path("api/auth/token", TokenView.as_view()),
    path("api/sessions/<str:session_id>/messages", session_messages),
    path("api/sessions/<str:session_id>/compare", session_compare),
    path("api/messages/<str:message_id>/stream", message_stream),
    path("api/messages/<str:message_id>/regenerate", message_regenerate_view),
    path("api/audio/transcriptions", transcriptions),
    path("api/audio/speech", speech),
    path("v1/audio/transcriptions", openai_transcriptions),
    path("v1/audio/speech", speech),
    # Public, like the API contract they describe (and sync views: no async authenticator).
    path("api/schema", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[AllowAny]), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema", authentication_classes=[], permission_classes=[AllowAny]),
         name="docs"),
    path("api/", include(router.urls)),
]
