"""Browser sessions on the streaming and audio viewsets: DRF's SessionAuthentication with
its CSRF check on unsafe methods, and bodies still read whole by the views afterwards
(JSON by `json_body`, multipart by the upload parser)."""

import pytest
from django.test import AsyncClient

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "a" * 32  # a CSRF secret; Django accepts it unmasked in the cookie and the header


@pytest.fixture
async def browser(user):
    client = AsyncClient(enforce_csrf_checks=True)
    await client.aforce_login(user)
    return client


async def _post(client, url, *, csrf: bool, **kwargs):
    if csrf:
        client.cookies["csrftoken"] = SECRET
        kwargs["headers"] = {"X-CSRFToken": SECRET}
    return await client.post(url, **kwargs)


async def test_json_endpoints_need_the_csrf_token(browser, session, fake_provider):
    url = f"/api/sessions/{session.id}/messages"
    assert (await browser.get(url)).status_code == 200
    res = await _post(browser, url, csrf=False, data={"content": "hi"}, content_type="application/json")
    assert res.status_code == 403 and res.json()["code"] == "permission_denied"
    res = await _post(browser, url, csrf=True, data={"content": "hi"}, content_type="application/json")
    assert res.status_code == 201 and res.json()["user"]["content"] == "hi"
    res = await _post(browser, url, csrf=True, data=b"{nope", content_type="application/json")
    assert res.status_code == 400 and res.json()["code"] == "malformed_json" and "body" in res.json()["detail"]
    res = await _post(browser, "/api/audio/speech", csrf=True, data={"input": " "}, content_type="application/json")
    assert res.status_code == 400 and res.json()["code"] == "empty_input"


async def test_uploads_need_the_csrf_token_and_keep_their_error_codes(browser):
    from django.core.files.uploadedfile import SimpleUploadedFile

    def form():
        return {"file": SimpleUploadedFile("notes.wav", b"not audio at all" * 20, content_type="audio/wav")}

    res = await _post(browser, "/api/audio/transcriptions", csrf=False, data=form())
    assert res.status_code == 403
    res = await _post(browser, "/api/audio/transcriptions", csrf=True, data=form())
    assert res.status_code == 400 and res.json()["code"] == "not_audio"
    res = await _post(browser, "/api/audio/transcriptions", csrf=True, data={"model": "whisper-1"})
    assert res.status_code == 400 and res.json()["code"] == "missing_file"
    res = await _post(browser, "/api/audio/transcriptions", csrf=True, data=b"--x\r\n", content_type="multipart/form-data")
    assert res.status_code == 400 and res.json()["code"] == "malformed_multipart"
    res = await _post(browser, "/api/audio/transcriptions", csrf=True, data={"file": "abc"}, content_type="application/json")
    assert res.status_code == 400 and res.json()["code"] == "not_multipart"
    res = await _post(browser, "/api/audio/speech", csrf=True, data={"input": "hi"})  # a form, not JSON
    assert res.status_code == 400 and res.json()["code"] == "malformed_json"
