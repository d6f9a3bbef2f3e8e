"""Assistants: who sees which (`GET /api/assistants`), users' private ones (allowed by
ASSISTANTS_USER_CREATED), the one tool filter, the admin form's validation and the
assistant leaderboard."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from ai_model.models import AIModel, Assistant, Provider
from ai_model.tools import Tool, tool_name_problem, tool_registry, tools_allowed

pytestmark = pytest.mark.django_db(transaction=True)


async def _ids(api) -> set[str]:
    res = await api.get("/api/assistants")
    assert res.status_code == 200
    return {a["name"] for a in res.json()}


async def test_the_list_holds_global_granted_and_own_assistants_only(api, other_api, user, other_user):
    staff = await Group.objects.acreate(name="staff")
    await user.groups.aadd(staff)
    await Assistant.objects.acreate(name="Everyone")
    for_alice = await Assistant.objects.acreate(name="For alice")
    await for_alice.grants.acreate(user=user)
    for_staff = await Assistant.objects.acreate(name="For staff")
    await for_staff.grants.acreate(group=staff)
    for_mallory = await Assistant.objects.acreate(name="For mallory")
    await for_mallory.grants.acreate(user=other_user)
    await for_mallory.grants.acreate(group=await Group.objects.acreate(name="others"))
    await Assistant.objects.acreate(name="Alice's own", owner=user)
    await Assistant.objects.acreate(name="Mallory's own", owner=other_user)
    await Assistant.objects.acreate(name="Switched off", enabled=False)
    # A grant does not share a private assistant.
    private = await Assistant.objects.acreate(name="Mallory's, granted", owner=other_user)
    await private.grants.acreate(user=user)
    assert await _ids(api) == {"Everyone", "For alice", "For staff", "Alice's own"}
    assert await _ids(other_api) == {"Everyone", "For mallory", "Mallory's own", "Mallory's, granted"}
    listed = (await api.get("/api/assistants")).json()
    entry = next(a for a in listed if a["name"] == "Everyone")
    assert set(entry) >= {"id", "name", "description", "model", "tools", "strategy"}
    assert entry["system_prompt"] is None and entry["private"] is False
    assert (await api.get(f"/api/assistants/{for_mallory.id}")).status_code == 404
    assert (await api.get("/api/assistants/not-a-uuid")).status_code == 404
    assert (await api.get(f"/api/assistants/{for_staff.id}")).json()["name"] == "For staff"


async def test_users_create_private_assistants_only_when_allowed(api, other_api, user, settings, fake_model):
    body = {"name": "Mine", "system_prompt": "Hi.", "tools": ["calculator", "files__read", "web__*"], "strategy": "plan",
            "model": str(fake_model.id), "temperature": 0.5}
    res = await api.post("/api/assistants", json=body)
    assert res.status_code == 403 and res.json()["code"] == "assistants_not_allowed"
    settings.ASSISTANTS_USER_CREATED = True
    res = await api.post("/api/assistants", json=body)
    assert res.status_code == 201, res.text
    made = res.json()
    assert made["private"] is True and made["system_prompt"] == "Hi." and made["tools"] == body["tools"]
    assert made["model"] == str(fake_model.id) and made["strategy"] == "plan"
    aid = made["id"]
    for bad, field in (({"tools": ["rm_rf"]}, "tools"), ({"model": "00000000-0000-0000-0000-000000000000"}, "model"),
                       ({"strategy": "yolo"}, "strategy"), ({"temperature": 9}, "temperature"), ({"name": ""}, "name")):
        res = await api.post("/api/assistants", json={"name": "x", **bad})
        assert res.status_code == 400 and field in res.json()["detail"], (bad, res.text)
    res = await api.patch(f"/api/assistants/{aid}", json={"description": "Better", "tools": []})
    assert res.status_code == 200 and res.json()["description"] == "Better" and res.json()["tools"] == []
    assert (await other_api.patch(f"/api/assistants/{aid}", json={"name": "theirs now"})).status_code == 404
    assert (await other_api.delete(f"/api/assistants/{aid}")).status_code == 404
    everyone = await Assistant.objects.acreate(name="Admin's")
    res = await api.patch(f"/api/assistants/{everyone.id}", json={"name": "mine now"})
    assert res.status_code == 403 and res.json()["code"] == "assistant_read_only"
    assert (await api.delete(f"/api/assistants/{everyone.id}")).status_code == 403
    settings.ASSISTANTS_USER_CREATED = False  # switched off: no more edits, but deleting one's own stays possible
    assert (await api.patch(f"/api/assistants/{aid}", json={"name": "n"})).status_code == 403
    assert (await api.delete(f"/api/assistants/{aid}")).status_code == 204
    assert not await Assistant.objects.filter(pk=aid).aexists()


def _tool(name: str) -> Tool:
    return Tool(name, "", {"type": "object"}, lambda: None)


def test_tools_allowed_is_the_one_filter_for_builtin_and_mcp_names():
    tools = {n: _tool(n) for n in ("calculator", "current_time", "web__search", "web__fetch", "files__read")}
    assert list(tools_allowed(tools, ["calculator", "web__*", "nope"])) == ["calculator", "web__search", "web__fetch"]
    assert list(tools_allowed(tools, ["files__read"])) == ["files__read"]
    assert tools_allowed(tools, []) == {}
    known = tool_registry()
    assert tool_name_problem("calculator", known=known) is None
    assert tool_name_problem("server__tool", known=known) is None and tool_name_problem("s.v-1__*", known=known) is None
    for wrong in ("rm_rf", "__tool", "server__", "a__b c", "", 3):
        assert tool_name_problem(wrong, known=known) is not None


def test_the_admin_form_offers_the_registry_and_refuses_unknown_names(admin_client, settings):
    settings.TOOLS = ["tests.fakes.broken"]
    page = admin_client.get("/admin/ai_model/assistant/add/").content.decode()
    assert 'value="calculator"' in page and 'value="broken"' in page
    data = {"name": "Helper", "strategy": "tools", "builtin_tools": ["calculator", "broken"],
            "mcp_tools": "web__search\nweb__*", "enabled": "on",
            "grants-TOTAL_FORMS": "0", "grants-INITIAL_FORMS": "0"}
    res = admin_client.post("/admin/ai_model/assistant/add/", {**data, "mcp_tools": "web__search\nrm -rf"})
    assert res.status_code == 200 and "Not a tool name: rm -rf" in res.content.decode()
    res = admin_client.post("/admin/ai_model/assistant/add/", data)
    assert res.status_code == 302, res.content.decode()[-3000:]
    helper = Assistant.objects.get(name="Helper")
    assert helper.tools == ["calculator", "broken", "web__search", "web__*"] and helper.owner is None
    page = admin_client.get(f"/admin/ai_model/assistant/{helper.pk}/change/").content.decode()
    assert "web__search\nweb__*" in page


def test_the_admin_leaderboard_ranks_assistants(admin_client, admin_user):
    from chat_session.models import ChatSession
    from message.models import Message

    provider = Provider.objects.create(name="P", kind="openai_compatible", base_url="http://x.invalid/v1")
    model = AIModel.objects.create(provider=provider, model_id="m", display_name="M")
    helper = Assistant.objects.create(name="Helpful One", model=model)
    session = ChatSession.objects.create(owner=admin_user)
    question = Message.objects.create(session=session, role="user", content="q")
    for preferred, ttfb, tps in [(True, 100, 50.0), (False, 300, 30.0)]:
        Message.objects.create(session=session, parent=question, role="assistant", content="a", status="complete",
                               model=model, assistant=helper, preferred=preferred, ttfb_ms=ttfb, tokens_per_s=tps)
    page = admin_client.get("/admin/ai_model/assistantleaderboard/").content.decode()
    row = page[page.index("Helpful One"):]
    assert ">2<" in row and ">1<" in row and ">200<" in row and ">40.0<" in row
