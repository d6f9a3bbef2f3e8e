"""Writes for providers and models."""

from __future__ import annotations

from ai_model.models import AIModel, Provider

LOCAL_PROVIDER_NAME = "Embedded (llama.cpp)"
LOCAL_MODEL_ID = "SmolLM2-135M-Instruct"


def local_model_ensure() -> tuple[AIModel, bool]:
    """Create the embedded provider and its model unless present; returns (model, created).

    Idempotent: an existing row (possibly edited or disabled by an admin) is left as is.
    """
    provider, _ = Provider.objects.get_or_create(
        kind=Provider.Kind.LOCAL,
        defaults={"name": LOCAL_PROVIDER_NAME, "first_token_timeout_s": 300.0},
    )
    model, created = AIModel.objects.get_or_create(
        provider=provider,
        model_id=LOCAL_MODEL_ID,
        defaults={"display_name": "SmolLM2 135M (local)", "max_tokens": 512, "temperature": 0.3},
    )
    return model, created
