from __future__ import annotations

from adrf import viewsets
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from ai_model.selectors import ai_model_list
from ai_model.services import ai_model_availability
from ai_model.serializers import ai_model_to_dict
from core.schema import ModelSerializer


class AIModelViewSet(viewsets.ViewSet):
    """`GET /api/models`: models the user may pick, with each provider's health."""

    @extend_schema(operation_id="models_list", responses=ModelSerializer(many=True))
    async def alist(self, request: Request) -> Response:
        models = await ai_model_list()
        available = await ai_model_availability(models=models)
        return Response([ai_model_to_dict(m, is_available=available[m.id]) for m in models])
