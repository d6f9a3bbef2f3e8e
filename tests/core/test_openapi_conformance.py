"""The OpenAPI document tells the truth: what it declares is what the app answers.

Cheap checks of the parts schemathesis found wrong before, then a bounded schemathesis
run (every check, stateful phase included) against the app on a loopback server, with
the settings of scripts/fuzz_api.sh (tests/core/schemathesis.toml)."""

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from drf_spectacular.generators import SchemaGenerator

from accounts.services import api_token_create
from tests.fakes import serve

pytestmark = pytest.mark.django_db(transaction=True)

CONFIG = Path(__file__).with_name("schemathesis.toml")
SSE_OPERATIONS = {("post", "/api/sessions/{session_id}/messages"), ("post", "/api/sessions/{session_id}/compare"),
                  ("get", "/api/messages/{message_id}/stream"), ("post", "/api/messages/{message_id}/regenerate")}


@pytest.fixture
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.fixture
async def anon():
    from config.asgi import application

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://127.0.0.1") as client:
        yield client


def test_documented_content_types(schema):
    paths = schema["paths"]
    for method, path in SSE_OPERATIONS:
        ok = paths[path][method]["responses"]["200"]["content"]
        assert set(ok) == {"text/event-stream"}, path
        assert ok["text/event-stream"]["schema"]["$ref"].endswith("/ServerSentEvent")
    for prefix in ("/api", "/v1"):
        speech = paths[f"{prefix}/audio/speech"]["post"]
        assert set(speech["responses"]["200"]["content"]) == {"audio/wav", "audio/mpeg", "audio/ogg"}
        assert set(speech["requestBody"]["content"]) == {"application/json"}
        transcription = paths[f"{prefix}/audio/transcriptions"]["post"]
        assert set(transcription["requestBody"]["content"]) == {"multipart/form-data"}
        assert set(transcription["responses"]["200"]["content"]) == {"application/json", "text/plain"}
    assert set(paths["/healthz"]) == {"get"} and set(paths["/readyz"]["get"]["responses"]) == {"200", "503"}
    content = schema["components"]["schemas"]["MessageCreateRequest"]["properties"]["content"]
    assert content["minLength"] == 1 and content["maxLength"] == 32_000 and "pattern" in content
    assert schema["components"]["securitySchemes"]["cookieAuth"]["in"] == "cookie"


def test_text_patterns_mean_what_the_checks_do(schema):
    """The document's patterns, read by a JSON Schema validator (ECMA regex), accept
    exactly the text the input checks accept (Python's `str.strip()`, DRF refusing NUL)."""
    import jsonschema_rs

    props = schema["components"]["schemas"]
    content = jsonschema_rs.validator_for(props["MessageCreateRequest"]["properties"]["content"])
    speech = jsonschema_rs.validator_for(props["SpeechRequestRequest"]["properties"]["input"])
    for char in map(chr, [*range(0x3100), 0x205F, 0xFEFF]):
        for text in (content, speech):  # both refuse NUL (espeak cannot speak it either)
            assert text.is_valid(char) == (bool(char.strip()) and char != "\x00"), hex(ord(char))
            assert text.is_valid(f"a{char}b") == (char != "\x00"), hex(ord(char))


async def test_undeclared_methods_answer_405_with_allow_before_authentication(anon):
    for method, url, allow in [
        ("TRACE", "/healthz", "GET, HEAD"), ("POST", "/readyz", "GET, HEAD"),
        ("TRACE", "/api/sessions/x/messages", "GET, POST"), ("PUT", "/api/sessions/x/compare", "POST"),
        ("HEAD", "/api/messages/x/stream", "GET"), ("OPTIONS", "/api/messages/x/regenerate", "POST"),
        ("GET", "/api/audio/speech", "POST"), ("DELETE", "/v1/audio/transcriptions", "POST"),
    ]:
        res = await anon.request(method, url)
        assert res.status_code == 405 and res.headers["allow"] == allow, (method, url, res.status_code)
    assert (await anon.head("/healthz")).status_code == 200


async def test_unrouted_api_paths_answer_the_json_404(api):
    for url in ["/api/nothing-here", "/api/models.json", "/api/messages/0.5/cancel"]:
        res = await api.get(url) if "cancel" not in url else await api.post(url)
        assert res.status_code == 404 and res.json()["code"] == "not_found", url


async def test_session_listing_and_creation_refuse_what_the_document_refuses(api, fake_model):
    for query in ["offset=null", "offset=1&offset=1", "limit=0", "limit=5.0", "offset=-1", "offset="]:
        res = await api.get(f"/api/sessions?{query}")
        assert res.status_code == 400 and set(res.json()["detail"]) <= {"limit", "offset"}, query
    assert (await api.get("/api/sessions?limit=1&offset=0&unknown=1")).status_code == 200
    res = await api.post("/api/sessions", json={"model": ""})
    assert res.status_code == 400 and "model" in res.json()["detail"]
    res = await api.post("/api/sessions", json={"title": "a\x00b"})
    assert res.status_code == 400 and "title" in res.json()["detail"]


async def test_stream_resume_position_is_checked(api, session, fake_provider):
    reply = (await api.post(f"/api/sessions/{session.id}/messages", json={"content": "hi"})).json()["assistant"]
    url = f"/api/messages/{reply['id']}/stream"
    for headers, query in [({"Last-Event-ID": "abc"}, ""), ({}, "?after=x"), ({}, "?after=1&after=2"),
                           ({"Last-Event-ID": "3"}, "?after=-1")]:
        res = await api.get(url + query, headers=headers)
        assert res.status_code == 400 and res.json()["code"] == "invalid_after", (headers, query)
    for headers in [{"Last-Event-ID": f"{reply['id']}:2"}, {"Last-Event-ID": ""}, {"Accept": "text/event-stream"}]:
        assert (await api.get(url, headers=headers)).status_code == 200


async def test_json_answers_whatever_the_client_accepts(api, session, fake_provider):
    res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "hi"}, headers={"Accept": "text/event-stream"})
    assert res.status_code == 201 and res.headers["content-type"] == "application/json"
    res = await api.post("/api/audio/speech", json={"input": "hi", "voice": 0}, headers={"Accept": "audio/*"})
    assert res.status_code == 400 and res.json()["code"] == "invalid_voice"
    res = await api.post("/api/audio/speech", json={"input": "hi", "response_format": False})
    assert res.status_code == 400 and res.json()["code"] == "unsupported_format"


def _schemathesis() -> str:
    return shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"


@pytest.mark.skipif(shutil.which("schemathesis", path=str(Path(sys.executable).parent)) is None,
                    reason="schemathesis is not installed")
async def test_schemathesis_finds_no_failure(user, fake_model, settings, tmp_path):
    """Every operation but the token endpoint, few examples each, all phases and checks."""
    from config.asgi import application

    # Shorter generated texts (the document says so too), and the speech cache in tmp.
    settings.MESSAGE_MAX_CHARS, settings.TTS_MAX_CHARS, settings.DATA_DIR = 200, 40, tmp_path
    # A title model, as a deployment has one (without, `POST /api/sessions/{id}/title` is 503).
    settings.TITLE_MODEL = str(fake_model.id)
    _, key = await api_token_create(user=user)
    with serve(application) as url:
        command = [
            _schemathesis(), "--config-file", str(CONFIG), "run", f"{url}/api/schema", "--checks", "all",
            "--exclude-path-regex", "auth/token", "-H", f"Authorization: Bearer {key}",
            "--max-examples", "10", "--request-timeout", "20", "--workers", "1", "--seed", "1", "--no-color",
        ]
        done = await asyncio.to_thread(
            subprocess.run, command, capture_output=True, text=True, timeout=150, cwd=tmp_path  # its cache goes there
        )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "failures" not in done.stdout.rsplit("SUMMARY", 1)[-1], done.stdout[-3000:]
