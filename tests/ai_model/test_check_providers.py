import pytest
from django.core.management import call_command

from ai_model.models import Provider
from tests.ai_model.upstream import ScriptedUpstream
from tests.fakes import free_port, serve


@pytest.mark.django_db(transaction=True)
def test_check_providers_reports_health_models_and_timings(capsys):
    upstream = ScriptedUpstream()
    with serve(upstream) as url:
        Provider.objects.create(name="Up", kind="ollama", base_url=url, api_key="secret-key-value-123")
        Provider.objects.create(name="Down", kind="openai", base_url=f"http://127.0.0.1:{free_port()}/v1", api_key="other-secret-456")
        call_command("check_providers")
    out = capsys.readouterr().out
    assert "Up [ollama]" in out and "available (" in out and "models (" in out and "m-1" in out
    assert "Down [openai]" in out and "UNAVAILABLE" in out and "failed after" in out
    assert "secret-key-value-123" not in out and "other-secret-456" not in out
