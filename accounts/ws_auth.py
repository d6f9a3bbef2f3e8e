"""WebSocket authentication by `?token=<key>`, after channels' session-cookie auth."""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.middleware import BaseMiddleware
from rest_framework import exceptions

from accounts.authentication import token_authenticate


class QueryTokenAuthMiddleware(BaseMiddleware):
    """Sets `scope["user"]` from a `token` query parameter when one is given; an invalid
    token leaves the socket anonymous (the consumer then refuses it)."""

    async def __call__(self, scope, receive, send):
        key = (parse_qs(scope.get("query_string", b"").decode()).get("token") or [None])[0]
        if key:
            try:
                token = await token_authenticate(key)
                scope = dict(scope, user=token.user)
            except exceptions.AuthenticationFailed:
                from django.contrib.auth.models import AnonymousUser

                scope = dict(scope, user=AnonymousUser())
        return await super().__call__(scope, receive, send)
