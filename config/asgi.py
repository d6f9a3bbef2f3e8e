"""ASGI entry point: HTTP (Django, plus static files, with the lean path for the hottest API
requests in front: `core.lean`, and the request body limit in front of both:
`core.body_limit`) and WebSocket (channels)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_http = get_asgi_application()  # sets Django up before the imports below

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from accounts.ws_auth import QueryTokenAuthMiddleware  # noqa: E402
from config.lifespan import LifespanMiddleware  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402
from config.urls import body_error, body_limit, lean_routes  # noqa: E402
from core.body_limit import BodyLimit  # noqa: E402
from core.lean import LeanApp  # noqa: E402

application = LifespanMiddleware(
    ProtocolTypeRouter(
        {
            # Static files (the chat page's JS/CSS and admin's) from the app folders,
            # so `make run` needs no collectstatic and no separate web server.
            # Bodies over the limit answer 413 before the lean path or Django reads them.
            "http": BodyLimit(LeanApp(ASGIStaticFilesHandler(django_http), lean_routes), body_limit, body_error),
            # Origin-checked against ALLOWED_HOSTS; the session cookie, else `?token=`.
            "websocket": AllowedHostsOriginValidator(
                AuthMiddlewareStack(QueryTokenAuthMiddleware(URLRouter(websocket_urlpatterns)))
            ),
        }
    )
)
