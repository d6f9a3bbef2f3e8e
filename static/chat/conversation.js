// The open conversation: loading a session, following a reply's SSE stream into the page,
// sending, regenerating, continuing, switching branches and preferring a compared reply,
// and the session's WebSocket for what happens elsewhere (titles, replies streamed from
// another tab or the API).
//
// Streaming text is buffered: deltas only append to the message's text, and the bubble is
// repainted at most once per animation frame (`schedulePaint`), however fast chunks come.
import { $, state, byId, activeBranch, newestLeafUnder } from "./state.js";
import { api, errorText } from "./api.js";
import { readSSE } from "./sse.js";
import { render, setStreaming, showReasoning, showPlan } from "./messages.js";
import { renderMarkdown } from "./markdown.js";
import { loadSessions, markActive, showTitle, sessionCreated } from "./sidebar.js";
import { assistantChanged, modelChosen, assistantChosen, preselectModel } from "./models.js";
import { compareSelection } from "./compare.js";
import { takeReady } from "./attachments.js";
import { notify } from "./notice.js";
import { keepAtBottom, toBottom, closeDrawer } from "./layout.js";

// ---- Painting streamed text, once per frame ----
const dirty = new Set(); // message ids whose bubble shows less than their text
let frame = 0;

function paint() {
  frame = 0;
  const index = byId();
  for (const id of dirty) {
    const msg = index.get(id);
    const el = document.querySelector(`.msg[data-id="${id}"]`);
    if (!msg || !el) continue;
    const body = el.querySelector(":scope > .body");
    if (msg.content && !el.dataset.answered) {
      el.dataset.answered = "1";
      const block = el.querySelector(":scope > details.reasoning");
      if (block) block.open = false; // the answer has started: fold the reasoning away
    }
    if (body) renderMarkdown(body, msg.content, { streaming: true });
  }
  dirty.clear();
  keepAtBottom();
}

function schedulePaint(id) {
  dirty.add(id);
  if (frame) return;
  // requestAnimationFrame does not run in a hidden tab: a timer paints there (throttled).
  const timer = setTimeout(() => { cancelAnimationFrame(frame); paint(); }, 250);
  frame = requestAnimationFrame(() => { clearTimeout(timer); paint(); });
}

/** Render the whole branch, keeping the reader's place unless they were at the bottom. */
function renderKeepingPlace() {
  const box = $("#messages");
  const top = box.scrollTop;
  render();
  box.scrollTop = top;
  keepAtBottom();
}

// Announce a finished reply once (the live region never follows the chunks).
function announce(msg) {
  const region = $("#reply-live");
  if (!region || !msg || msg.role !== "assistant") return;
  const text = (msg.content || "").replace(/\s+/g, " ").trim();
  region.textContent = msg.status === "cancelled" ? `Reply stopped. ${text.slice(0, 400)}`
    : msg.status === "error" ? "The reply failed." : `Reply: ${text.slice(0, 400)}${text.length > 400 ? "…" : ""}`;
}

/** Reload the open chat and its messages: true, false when it is not found (or not
 * yours), null when another chat was opened meanwhile (nothing is changed then). */
export async function refresh() {
  const id = state.sessionId;
  const [sRes, mRes] = await Promise.all([api(`/api/sessions/${id}`), api(`/api/sessions/${id}/messages`)]);
  if (state.sessionId !== id) return null;
  if (!sRes.ok) return false;
  const [session, messages] = [await sRes.json(), mRes.ok ? await mRes.json() : []];
  if (state.sessionId !== id) return null;
  state.session = session;
  state.messages = messages;
  $("#session-title").textContent = state.session.title || "Untitled chat";
  renderKeepingPlace();
  return true;
}

// ---- The session's WebSocket ----
// One socket per open chat. Opening the same chat again keeps it; switching closes it
// politely (a socket still connecting is closed once it opened, so the browser never
// logs "closed before the connection is established").
let socket = null;
let socketFor = null;
let retry = 0;
const following = new Set(); // reply ids this tab follows over SSE (their WS frames are skipped)

function dropSocket() {
  const old = socket;
  socket = null; socketFor = null;
  if (!old) return;
  old.onmessage = null; old.onclose = null; old.onerror = null;
  if (old.readyState === WebSocket.CONNECTING) old.onopen = () => old.close(1000, "chat switched");
  else if (old.readyState === WebSocket.OPEN) old.close(1000, "chat switched");
}

function watch(id) {
  if (id && socketFor === id && socket && socket.readyState <= WebSocket.OPEN) return;
  dropSocket();
  if (!id) return;
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/sessions/${id}`);
  socket = ws; socketFor = id;
  ws.onopen = () => { retry = 0; };
  ws.onmessage = (e) => { if (state.sessionId === id) onFrame(JSON.parse(e.data)); };
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = null; socketFor = null;
    const wait = Math.min(30_000, 1000 * 2 ** retry++);
    setTimeout(() => { if (state.sessionId === id && !socket) { watch(id); refresh(); } }, wait);
  };
}

function onFrame(frame) {
  if (frame.type === "session_update") {
    state.session = { ...state.session, ...frame.session };
    $("#session-title").textContent = frame.session.title || "Untitled chat";
    showTitle(state.sessionId, frame.session.title);
  } else if (frame.type === "message_stream") {
    if (following.has(frame.message)) return;
    const msg = byId().get(frame.message);
    if (!msg) return;
    if (frame.delta) { msg.content = (msg.content || "") + frame.delta; schedulePaint(msg.id); }
    if (frame.reasoning) {
      msg.reasoning = (msg.reasoning || "") + frame.reasoning;
      const el = document.querySelector(`.msg[data-id="${msg.id}"]`);
      if (el) showReasoning(el, msg.reasoning, msg.content ? undefined : true);
    }
  } else if (frame.type === "message_update") {
    const m = frame.message;
    if (following.has(m.id) || (state.sending && !byId().has(m.id))) return; // this tab's own reply: SSE has it
    const known = byId().get(m.id);
    if (known) {
      // A later state (the final one ends the bubble): keep streamed text if the update has none yet.
      const content = m.content || (m.status === "streaming" || m.status === "pending" ? known.content : "");
      Object.assign(known, m, { content });
      dirty.delete(m.id);
    } else {
      state.messages.push({ ...m, content: m.content || "" });
      if (state.session && m.parent && state.session.active_leaf === m.parent) state.session.active_leaf = m.id;
      else if (state.session && m.role === "user") state.session.active_leaf = m.id;
    }
    renderKeepingPlace();
    if (!known || m.status === "complete") loadSessions();
    if (m.status && !["streaming", "pending"].includes(m.status)) announce(m);
  }
}

// ---- Opening a chat ----
export async function openSession(id, { notFound = true } = {}) {
  closeDrawer({ restoreFocus: false });
  if (id && id === state.sessionId && state.session) { watch(id); markActive(id); return; } // the open chat clicked again
  if (socketFor !== id) dropSocket();
  state.sessionId = id; state.session = null; state.messages = []; dirty.clear();
  history.replaceState(null, "", id ? `/s/${id}` : "/");
  markActive(id);
  $("#session-title").textContent = "New chat";
  render();
  toBottom();
  preselectModel(null);
  if (!id) { $("#assistant-picker").value = ""; assistantChanged(); return; }
  const found = await refresh();
  if (found === null) return; // another chat was opened meanwhile
  if (!found) {
    if (notFound) notify("That chat was not found: it was deleted, or it is not yours. A new chat is open instead.", { kind: "error" });
    openSession(null);
    return;
  }
  watch(id); // (only for a chat that exists: an unknown id would be refused)
  toBottom();
  const branch = activeBranch();
  const last = branch[branch.length - 1];
  preselectModel(state.session, last);
  if (last && last.role === "assistant" && state.assistants.some((a) => a.id === last.assistant)) {
    $("#assistant-picker").value = last.assistant;
  } else $("#assistant-picker").value = "";
  assistantChanged();
  const live = state.messages.filter((m) => m.role === "assistant" && (m.status === "streaming" || m.status === "pending"));
  // Reloaded (or opened) mid-reply: follow the rest of each reply still being written.
  if (live.length) await Promise.all(live.map((m) => follow(streamOf(m.id), false, null, { resume: m })));
}

const streamOf = (id, after = 0) =>
  api(`/api/messages/${id}/stream${after ? `?after=${after}` : ""}`, { headers: { Accept: "text/event-stream" } });

// ---- Following a reply's SSE ----
/**
 * Applies a reply's events to the page as they arrive, then reloads the stored state.
 * `res`: a fetch Response (or its promise) of text/event-stream. `sent`: the text and
 * attachments of the user message this page just sent (its `message` event carries
 * neither), shown at once. `resume`: the stored (partial) reply this page already shows;
 * the stream replays it from the start, and the bubble keeps the stored text until the
 * replay has caught up with it. A dropped stream is resumed after its last event id.
 */
export async function follow(res, compareStream = false, sent = null, { resume = null } = {}) {
  state.sending = true;
  try { res = await res; } catch (err) { state.sending = false; throw err; }
  if (!res.ok) { state.sending = false; notify(await errorText(res), { kind: "error" }); return; }
  const index = byId();
  const stored = new Map(resume ? [[resume.id, resume.content || ""]] : []); // id -> text shown before the replay
  const ids = new Set();
  let lastId = null; let target = resume ? resume.id : null; let ended = false;
  const text = (msg) => (stored.has(msg.id) && msg.content.length < stored.get(msg.id).length ? stored.get(msg.id) : msg.content);
  try {
    for (let attempt = 0; !ended && attempt < 4; attempt++) {
      if (attempt) {
        // The connection dropped before `done`: ask for the rest after the last event seen.
        const seq = lastId && Number(String(lastId).split(":").pop());
        if (!target || !seq) break;
        await new Promise((r) => setTimeout(r, 500 * attempt));
        res = await streamOf(target, seq);
        if (!res.ok) break;
      }
      try {
        for await (const ev of readSSE(res)) {
          if (ev.id) lastId = ev.id;
          const d = ev.data;
          if (ev.event === "message") {
            const known = index.get(d.id);
            if (d.role === "assistant") { following.add(d.id); ids.add(d.id); if (!compareStream) target = d.id; }
            const msg = known || { created_at: new Date().toISOString(), ...d, content: "", reasoning: "", usage: {}, tool_calls: [] };
            if (known) Object.assign(known, { ...d, content: known.content, reasoning: known.reasoning });
            if (sent && msg.role === "user") { msg.content = sent.content; msg.attachments = sent.attachments; }
            // A replayed reply starts over (its stored text stays shown until overtaken).
            if (msg.role === "assistant" && known) {
              if (!stored.has(d.id) && known.content) stored.set(d.id, known.content);
              known.content = ""; known.reasoning = "";
            }
            if (!known) { state.messages.push(msg); index.set(d.id, msg); }
            if (msg.role !== "user") setStreaming(state.streaming || d.id);
            if (state.session && !state.session.active_leaf_locked) state.session.active_leaf = d.id;
            if (state.session && msg.role === "assistant" && compareStream) state.session.active_leaf_locked = true;
            if (d.role === "assistant" || d.role === "user") {
              renderKeepingPlace();
              if (stored.has(d.id)) { const el = document.querySelector(`.msg[data-id="${d.id}"] > .body`); if (el) renderMarkdown(el, stored.get(d.id), { streaming: true }); }
              const el = document.querySelector(`.msg[data-id="${d.id}"]`);
              if (el && d.role === "assistant") { el.classList.add("streaming"); el.setAttribute("aria-busy", "true"); }
            }
          } else if (ev.event === "reasoning") {
            const msg = index.get(d.message);
            if (!msg) continue;
            msg.reasoning = (msg.reasoning || "") + d.text;
            const el = document.querySelector(`.msg[data-id="${d.message}"]`);
            if (el) { showReasoning(el, msg.reasoning, msg.content ? undefined : true); keepAtBottom(); }
          } else if (ev.event === "delta") {
            const msg = index.get(d.message);
            if (!msg) continue;
            msg.content += d.text;
            if (!stored.has(msg.id) || text(msg) === msg.content) schedulePaint(msg.id);
          } else if (ev.event === "plan") {
            const msg = index.get(d.message);
            if (!msg) continue;
            msg.plan = d.steps;
            const el = document.querySelector(`.msg[data-id="${d.message}"]`);
            if (el) showPlan(el, d.steps);
          } else if (ev.event === "tool_result") {
            if (frame) paint();
            await refresh();
          } else if (ev.event === "error") {
            const msg = index.get(d.message);
            if (msg) msg.error = { code: d.code, detail: d.detail };
          } else if (ev.event === "done") {
            const msg = index.get(d.message);
            if (msg) { msg.status = d.status; msg.finish_reason = d.finish_reason; }
            if (!compareStream) { ended = true; setStreaming(null); }
          }
        }
        if (compareStream) ended = true;
      } catch (err) {
        if (err && err.name === "AbortError") break;
        // (a dropped connection: the loop asks for the rest)
      }
    }
  } finally {
    if (frame) { cancelAnimationFrame(frame); paint(); }
    setStreaming(null);
    state.sending = false;
    if (state.session) delete state.session.active_leaf_locked;
    await refresh();
    for (const id of ids) { following.delete(id); announce(byId().get(id)); }
    loadSessions();
  }
}

/**
 * Send `content` as the user's next message and follow the reply. `parent`: the message
 * to answer under (an edit makes a new branch beside the original: the edited message's
 * parent; null for the chat's first message, sent as `root`); default the open branch's
 * newest message. Creates the chat first when none is
 * open (it shows in the sidebar at once). Throws on a network failure.
 */
export async function send(content, { parent: under } = {}) {
  toBottom();
  if (!state.sessionId) {
    const res = await api("/api/sessions", { method: "POST", body: JSON.stringify(assistantChosen()
      ? { assistant: assistantChosen() } : { model: modelChosen() }) });
    if (!res.ok) { notify(await errorText(res), { kind: "error" }); return; }
    const session = await res.json();
    state.sessionId = session.id; state.session = session; state.messages = [];
    history.replaceState(null, "", `/s/${session.id}`);
    watch(session.id);
    $("#session-title").textContent = session.title || "Untitled chat";
    sessionCreated(session);
  }
  const branch = activeBranch();
  const models = compareSelection();
  const parent = under !== undefined ? under : (branch.length ? branch[branch.length - 1].id : null);
  const files = takeReady();
  const attachments = files.ids;
  const sent = { content, attachments: files.meta };
  const compare = models.length >= 2;
  const payload = compare ? { content, parent, models, attachments, stream: true }
    : { content, stream: true, model: assistantChosen() ? null : modelChosen(), attachments };
  if (!compare && assistantChosen()) payload.assistant = assistantChosen();
  if (!compare && parent) payload.parent = parent;
  if (under === null && state.messages.length) { delete payload.parent; payload.root = true; }
  // (set before the request: this tab's own messages then come by SSE, not the socket)
  state.sending = true;
  let res;
  try {
    res = await api(`/api/sessions/${state.sessionId}/${compare ? "compare" : "messages"}`, {
      method: "POST", body: JSON.stringify(payload), headers: { Accept: "text/event-stream" },
    });
  } catch (err) { state.sending = false; throw err; }
  if (res.ok) files.taken();
  await follow(res, compare, sent);
}

/** Stop the reply that streams (its text so far is kept). */
export async function cancel() {
  const id = state.streaming;
  if (!id) return;
  const res = await api(`/api/messages/${id}/cancel`, { method: "POST" });
  if (!res.ok && res.status !== 409) notify(await errorText(res), { kind: "error" });
}

export async function regenerate(id) {
  toBottom();
  const res = await api(`/api/messages/${id}/regenerate`, {
    method: "POST", body: JSON.stringify({ stream: true, model: modelChosen() }),
    headers: { Accept: "text/event-stream" },
  });
  await follow(res);
}

/** Continue a reply cut at the token limit: a new sibling that starts with its text, streamed. */
export async function continueReply(id) {
  toBottom();
  const res = await api(`/api/messages/${id}/continue`, {
    method: "POST", body: JSON.stringify({ stream: true }), headers: { Accept: "text/event-stream" },
  });
  await follow(res);
}

export async function switchTo(message) {
  if (!message) return;
  const leaf = newestLeafUnder(message.id);
  const res = await api(`/api/sessions/${state.sessionId}`, { method: "PATCH", body: JSON.stringify({ active_leaf: leaf.id }) });
  if (res.ok) { state.session = await res.json(); renderKeepingPlace(); } else notify(await errorText(res), { kind: "error" });
}

export async function prefer(msg) {
  const res = await api(`/api/messages/${msg.id}/prefer`, { method: "POST" });
  if (!res.ok) { notify(await errorText(res), { kind: "error" }); return; }
  // Continue the conversation from the preferred reply.
  await api(`/api/sessions/${state.sessionId}`, { method: "PATCH", body: JSON.stringify({ active_leaf: newestLeafUnder(msg.id).id }) });
  await refresh();
}

/** Esc stops the streaming reply (unless a dialog, the drawer or an editor takes Esc first). */
export function installShortcuts() {
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || e.defaultPrevented || !state.streaming) return;
    if (document.querySelector("dialog[open]")) return;
    e.preventDefault();
    cancel();
  });
}
