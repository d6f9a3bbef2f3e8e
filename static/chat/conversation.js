// The open conversation: loading a session, following a reply's SSE stream into the page,
// sending, regenerating, switching branches and preferring a compared reply, and the
// session's WebSocket for what happens elsewhere (titles, replies from another tab or the API).
import { $, state, byId, activeBranch, newestLeafUnder } from "./state.js";
import { api, errorText } from "./api.js";
import { readSSE } from "./sse.js";
import { render, setStreaming, showReasoning, showPlan } from "./messages.js";
import { renderMarkdown } from "./markdown.js";
import { loadSessions, markActive, showTitle } from "./sidebar.js";
import { assistantChosen, assistantChanged, modelChosen } from "./models.js";
import { compareSelection } from "./compare.js";
import { takeReady } from "./attachments.js";

export async function refresh() {
  const [sRes, mRes] = await Promise.all([api(`/api/sessions/${state.sessionId}`), api(`/api/sessions/${state.sessionId}/messages`)]);
  if (!sRes.ok) return false;
  state.session = await sRes.json();
  state.messages = mRes.ok ? await mRes.json() : [];
  $("#session-title").textContent = state.session.title || "Untitled chat";
  render();
  return true;
}

let socket = null;
function watch(id) {
  if (socket) { socket.onclose = null; socket.close(); socket = null; }
  if (!id) return;
  socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/sessions/${id}`);
  socket.onmessage = (e) => {
    const frame = JSON.parse(e.data);
    if (frame.type === "session_update") {
      state.session = { ...state.session, ...frame.session };
      $("#session-title").textContent = frame.session.title || "Untitled chat";
      showTitle(id, frame.session.title);
    } else if (frame.type === "message_update" && !state.streaming && !byId().has(frame.message.id)) {
      refresh();
    }
  };
  socket.onclose = () => setTimeout(() => { if (state.sessionId === id) watch(id); }, 3000);
}

export async function openSession(id) {
  watch(id);
  state.sessionId = id; state.session = null; state.messages = [];
  history.replaceState(null, "", id ? `/s/${id}` : "/");
  markActive(id);
  $("#session-title").textContent = "New chat";
  render();
  if (!id) return;
  if (!(await refresh())) { openSession(null); return; }
  const branch = activeBranch();
  const last = branch[branch.length - 1];
  if (last && last.role === "assistant" && last.model) $("#model-picker").value = last.model;
  if (last && last.role === "assistant" && state.assistants.some((a) => a.id === last.assistant)) {
    $("#assistant-picker").value = last.assistant;
  } else $("#assistant-picker").value = "";
  assistantChanged();
  if (last && (last.status === "streaming" || last.status === "pending")) {
    // Reloaded mid-reply: follow the rest of it.
    follow(await api(`/api/messages/${last.id}/stream`, { headers: { Accept: "text/event-stream" } }));
  }
}

// Applies a reply's events to the page as they arrive, then reloads the stored state.
// `sent`: the text and attachments of the user message this page just sent (its `message`
// event carries neither), shown at once.
export async function follow(res, compareStream = false, sent = null) {
  if (!res.ok) { alert(await errorText(res)); return; }
  const index = byId();
  try {
    for await (const ev of readSSE(res)) {
      const d = ev.data;
      if (ev.event === "message") {
        const known = index.get(d.id);
        const msg = { created_at: new Date().toISOString(), ...(known || {}), ...d, content: known ? known.content : "", reasoning: known ? known.reasoning || "" : "", usage: {}, tool_calls: [] };
        if (sent && msg.role === "user") { msg.content = sent.content; msg.attachments = sent.attachments; }
        if (!known) { state.messages.push(msg); index.set(d.id, msg); }
        else { known.content = ""; known.reasoning = ""; }
        if (msg.role !== "user") setStreaming(state.streaming || d.id);
        if (state.session && !state.session.active_leaf_locked) state.session.active_leaf = d.id;
        if (state.session && msg.role === "assistant" && compareStream) state.session.active_leaf_locked = true;
        if (d.role === "assistant" || d.role === "user") render();
      } else if (ev.event === "reasoning") {
        const msg = index.get(d.message);
        if (!msg) continue;
        msg.reasoning = (msg.reasoning || "") + d.text;
        const el = document.querySelector(`.msg[data-id="${d.message}"]`);
        if (el) { showReasoning(el, msg.reasoning, msg.content ? undefined : true); el.scrollIntoView({ block: "end" }); }
      } else if (ev.event === "delta") {
        const msg = index.get(d.message);
        if (!msg) continue;
        const first = !msg.content;
        msg.content += d.text;
        const el = document.querySelector(`.msg[data-id="${d.message}"] .body`);
        if (el) {
          const block = first && el.parentElement.querySelector(":scope > details.reasoning");
          if (block) block.open = false; // the answer has started: fold the reasoning away
          renderMarkdown(el, msg.content); el.closest(".msg").scrollIntoView({ block: "end" });
        }
      } else if (ev.event === "plan") {
        const msg = index.get(d.message);
        if (!msg) continue;
        msg.plan = d.steps;
        const el = document.querySelector(`.msg[data-id="${d.message}"]`);
        if (el) showPlan(el, d.steps);
      } else if (ev.event === "tool_result") {
        await refresh();
      } else if (ev.event === "done" && !compareStream) {
        setStreaming(null);
      }
    }
  } finally {
    setStreaming(null);
    if (state.session) delete state.session.active_leaf_locked;
    await refresh();
    loadSessions();
  }
}

// `parent`: the message to answer under (an edit's new branch); default: the open branch's end.
export async function send(content, { parent: under } = {}) {
  if (!state.sessionId) {
    const res = await api("/api/sessions", { method: "POST", body: JSON.stringify(assistantChosen()
      ? { assistant: assistantChosen() } : { model: modelChosen() }) });
    if (!res.ok) { alert(await errorText(res)); return; }
    const session = await res.json();
    state.sessionId = session.id; state.session = session; state.messages = [];
    history.replaceState(null, "", `/s/${session.id}`);
    watch(session.id);
  }
  const branch = activeBranch();
  const models = compareSelection();
  const parent = under !== undefined ? under : (branch.length ? branch[branch.length - 1].id : null);
  const files = takeReady();
  const attachments = files.ids;
  const sent = { content, attachments: files.meta };
  if (models.length >= 2) {
    const res = await api(`/api/sessions/${state.sessionId}/compare`, {
      method: "POST", body: JSON.stringify({ content, parent, models, attachments, stream: true }), headers: { Accept: "text/event-stream" },
    });
    if (res.ok) files.taken();
    await follow(res, true, sent);
    return;
  }
  const payload = { content, stream: true, model: assistantChosen() ? null : modelChosen(), attachments };
  if (assistantChosen()) payload.assistant = assistantChosen();
  if (parent) payload.parent = parent;
  const res = await api(`/api/sessions/${state.sessionId}/messages`, {
    method: "POST", body: JSON.stringify(payload), headers: { Accept: "text/event-stream" },
  });
  if (res.ok) files.taken();
  await follow(res, false, sent);
}

export async function cancel() {
  if (state.streaming) await api(`/api/messages/${state.streaming}/cancel`, { method: "POST" });
}

export async function regenerate(id) {
  const res = await api(`/api/messages/${id}/regenerate`, {
    method: "POST", body: JSON.stringify({ stream: true, model: modelChosen() }),
    headers: { Accept: "text/event-stream" },
  });
  await follow(res);
}

// Continue a reply cut at the token limit: a new sibling that starts with its text.
export async function continueReply(id) {
  const res = await api(`/api/messages/${id}/continue`, {
    method: "POST", body: JSON.stringify({ stream: true }), headers: { Accept: "text/event-stream" },
  });
  await follow(res);
}

export async function switchTo(message) {
  if (!message) return;
  const leaf = newestLeafUnder(message.id);
  const res = await api(`/api/sessions/${state.sessionId}`, { method: "PATCH", body: JSON.stringify({ active_leaf: leaf.id }) });
  if (res.ok) { state.session = await res.json(); render(); }
}

export async function prefer(msg) {
  const res = await api(`/api/messages/${msg.id}/prefer`, { method: "POST" });
  if (!res.ok) { alert(await errorText(res)); return; }
  // Continue the conversation from the preferred reply.
  await api(`/api/sessions/${state.sessionId}`, { method: "PATCH", body: JSON.stringify({ active_leaf: newestLeafUnder(msg.id).id }) });
  await refresh();
}
