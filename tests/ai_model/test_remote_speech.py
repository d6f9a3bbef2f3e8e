"""Remote speech engines (OpenAI-compatible audio endpoints) that time out or cannot be
reached: the endpoints answer 502 with the provider error's code, naming the model.

Over real HTTP on loopback; no local speech model is needed (the upload is decoded
with PyAV only, as every engine checks its input the same way)."""

import json

import numpy as np
import pytest

from ai_model.models import AIModel, Provider
from ai_model.speech.audio import PcmEncoder
from tests.ai_model.upstream import Hang, ScriptedUpstream, Status, Stream
from tests.fakes import free_port, serve

pytestmark = pytest.mark.django_db(transaction=True)

API_KEY = "sk-remote-audio-0123456789abcdef"
TIMEOUT_S = 0.3


@pytest.fixture(autouse=True)
def _tts_cache_in_tmp(settings, tmp_path):
    settings.DATA_DIR = tmp_path


@pytest.fixture
def hanging_upstream():
    """An upstream that reads the request, then says nothing for longer than TIMEOUT_S."""
    upstream = ScriptedUpstream()
    upstream.play(Hang(TIMEOUT_S * 6))
    with serve(upstream) as url:
        yield f"{url}/v1", upstream


@pytest.fixture
def closed_port_url():
    """A loopback port nothing listens on: connecting is refused."""
    return f"http://127.0.0.1:{free_port()}/v1"


async def _remote_models(base_url: str) -> None:
    provider = await Provider.objects.acreate(
        name="Remote audio", kind="openai_compatible", base_url=base_url, api_key=API_KEY,
        connect_timeout_s=TIMEOUT_S, first_token_timeout_s=TIMEOUT_S,
    )
    await AIModel.objects.acreate(provider=provider, model_id="remote-whisper", display_name="Remote Whisper", purpose="transcription")
    await AIModel.objects.acreate(provider=provider, model_id="remote-tts", display_name="Remote TTS", purpose="speech")


async def _transcribe(api, path: str):
    wav = PcmEncoder("wav", 16000).feed(np.zeros(16000, dtype=np.int16).tobytes())
    return await api.post(path, files={"file": ("a.wav", wav, "audio/wav")}, data={"model": "remote-whisper"})


async def _speak(api, path: str):
    return await api.post(path, json={"input": "Hello there.", "model": "remote-tts", "voice": "nova"})


def _assert_provider_error(res, code: str) -> None:
    assert res.status_code == 502, res.text
    body = res.json()
    assert body["code"] == code and set(body) == {"code", "message", "detail"}
    assert list(body["detail"]) == ["model"] and body["detail"]["model"] == [body["message"]]
    assert "Remote audio" in body["message"]
    assert API_KEY not in json.dumps(body) and API_KEY[-8:] not in json.dumps(body)


CALLS = [
    pytest.param(_transcribe, "/api/audio/transcriptions", id="asr"),
    pytest.param(_transcribe, "/v1/audio/transcriptions", id="asr-openai"),
    pytest.param(_speak, "/api/audio/speech", id="tts"),
    pytest.param(_speak, "/v1/audio/speech", id="tts-openai"),
]


@pytest.mark.parametrize(("call", "path"), CALLS)
async def test_an_upstream_silent_past_its_timeout_answers_timeout(api, hanging_upstream, call, path):
    url, upstream = hanging_upstream
    await _remote_models(url)
    res = await call(api, path)
    _assert_provider_error(res, "timeout")
    assert len(upstream.requests) == 1  # the request reached the upstream, which never answered
    assert upstream.requests[0]["headers"]["authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize(("call", "path"), CALLS)
async def test_an_upstream_that_refuses_connections_answers_connection_error(api, closed_port_url, call, path):
    await _remote_models(closed_port_url)
    res = await call(api, path)
    _assert_provider_error(res, "connection_error")


@pytest.mark.parametrize(("call", "path"), CALLS)
@pytest.mark.parametrize(("status", "code"), [(401, "authentication_error"), (429, "rate_limited"), (500, "upstream_error")])
async def test_an_error_status_is_a_bad_gateway_with_the_key_redacted(api, call, path, status, code):
    upstream = ScriptedUpstream()
    upstream.play(Status(status, body={"error": {"message": f"Incorrect API key provided: {API_KEY}"}}))
    with serve(upstream) as url:
        await _remote_models(f"{url}/v1")
        res = await call(api, path)
    _assert_provider_error(res, code)  # 502 whatever the upstream answered: our client did nothing wrong
    assert "WWW-Authenticate" not in res.headers


async def test_a_failed_remote_speech_is_not_cached(api, hanging_upstream):
    url, upstream = hanging_upstream
    await _remote_models(url)
    for _ in range(2):
        res = await _speak(api, "/api/audio/speech")
        _assert_provider_error(res, "timeout")
    assert len(upstream.requests) == 2


async def test_the_speech_cache_is_per_user(api, other_api):
    """Another user's identical request is synthesised anew: no `X-Cache: hit` (nor a fast
    answer) tells them that someone had this text read aloud."""
    upstream = ScriptedUpstream()
    upstream.play(Stream([b"ID3-fake-mp3-bytes"], content_type="audio/mpeg"))
    with serve(upstream) as url:
        await _remote_models(f"{url}/v1")
        first = await _speak(api, "/api/audio/speech")
        again = await _speak(api, "/api/audio/speech")
        other = await _speak(other_api, "/api/audio/speech")
        other_again = await _speak(other_api, "/v1/audio/speech")
    assert [r.status_code for r in (first, again, other, other_again)] == [200] * 4
    assert [r.headers["x-cache"] for r in (first, again, other, other_again)] == ["miss", "hit", "miss", "hit"]
    assert len(upstream.requests) == 2  # once per user
    assert other.content == first.content == b"ID3-fake-mp3-bytes"
