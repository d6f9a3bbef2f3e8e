"""The Content-Security-Policy header (django-csp through core.middleware.CSPMiddleware):
on every response, strict by default, with the per-path additions of the settings."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in header.split("; ")}


def test_the_chat_page_and_the_login_page_get_the_strict_policy(client, user):
    for response in (client.get("/login/"), (client.force_login(user), client.get("/"))[1]):
        assert response.status_code == 200
        policy = _policy(response)
        assert policy["default-src"] == ["'self'"] and policy["script-src"] == ["'self'"]
        assert policy["style-src"] == ["'self'"] and policy["img-src"] == ["'self'", "data:", "blob:"]
        assert policy["connect-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
        assert policy["frame-ancestors"] == ["'none'"] and policy["form-action"] == ["'self'"]
        assert policy["base-uri"] == ["'none'"]
        assert b"<script>" not in response.content  # no inline script for the policy to refuse


def test_api_docs_allow_inline_styles_but_no_inline_script(client):
    page = client.get("/api/docs")
    assert page.status_code == 200 and b"<script>" not in page.content
    assert _policy(page)["style-src"] == ["'self'", "'unsafe-inline'"] and _policy(page)["script-src"] == ["'self'"]
    script = client.get("/api/docs?script")  # the split view's start-up script, as a file
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content


async def test_json_answers_carry_it_too(api):
    res = await api.get("/api/models")
    assert res.status_code == 200 and "default-src 'self'" in res.headers["content-security-policy"]
