// Chat page: sessions, model picker, streamed replies (SSE over fetch), Markdown
// rendered with marked and sanitised with DOMPurify so model output never runs script.
(() => {
  "use strict";
  const $ = (sel) => document.querySelector(sel);
  const state = { sessionId: null, models: [], sending: false };

  function csrfToken() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  async function api(path, options = {}) {
    const headers = { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), ...(options.headers || {}) };
    const res = await fetch(path, { credentials: "same-origin", ...options, headers });
    if (res.status === 401 || res.status === 403) { location.href = "/login/?next=" + encodeURIComponent(location.pathname); }
    return res;
  }

  async function errorText(res) {
    try { const body = await res.json(); return body.message || res.statusText; } catch { return res.statusText; }
  }

  function renderMarkdown(el, text) {
    el.innerHTML = DOMPurify.sanitize(marked.parse(text || ""), { USE_PROFILES: { html: true } });
  }

  function modelName(id) {
    const m = state.models.find((x) => x.id === id);
    return m ? m.name : "";
  }

  function metaText(msg) {
    const parts = [];
    if (msg.model) parts.push(modelName(msg.model));
    const u = msg.usage || {};
    if (u.completion_tokens != null) parts.push(`${u.completion_tokens} tokens`);
    if (u.ttfb_ms != null) parts.push(`TTFB ${u.ttfb_ms} ms`);
    if (u.duration_ms && u.completion_tokens) parts.push(`${(u.completion_tokens / (u.duration_ms / 1000)).toFixed(1)} tok/s`);
    if (msg.status && msg.status !== "complete") parts.push(msg.status);
    if (msg.error) parts.push(`${msg.error.code}: ${msg.error.detail}`);
    return parts.join(" · ");
  }

  function addMessage(msg) {
    const el = document.createElement("div");
    el.className = `msg ${msg.role} ${msg.status || ""}`;
    el.dataset.id = msg.id;
    const body = document.createElement("div");
    body.className = "body";
    const meta = document.createElement("div");
    meta.className = "meta";
    el.append(body, meta);
    if (msg.role === "assistant") renderMarkdown(body, msg.content); else body.textContent = msg.content;
    if (msg.role === "assistant") meta.textContent = metaText(msg);
    $("#messages").append(el);
    el.scrollIntoView({ block: "end" });
    return el;
  }

  // The branch shown: from the root to the newest leaf.
  function activeBranch(messages) {
    if (!messages.length) return [];
    const byId = new Map(messages.map((m) => [m.id, m]));
    const parents = new Set(messages.map((m) => m.parent).filter(Boolean));
    const leaves = messages.filter((m) => !parents.has(m.id));
    let node = leaves[leaves.length - 1];
    const path = [];
    while (node) { path.push(node); node = node.parent ? byId.get(node.parent) : null; }
    return path.reverse();
  }

  async function loadModels() {
    const res = await api("/api/models");
    state.models = res.ok ? await res.json() : [];
    const picker = $("#model-picker");
    picker.innerHTML = "";
    for (const m of state.models) {
      const opt = document.createElement("option");
      opt.value = m.id;
      opt.textContent = m.name + (m.is_available ? "" : " (unavailable)");
      picker.append(opt);
    }
  }

  async function loadSessions() {
    const res = await api("/api/sessions?limit=200");
    if (!res.ok) return;
    const page = await res.json();
    const list = $("#sessions");
    list.innerHTML = "";
    for (const s of page.results) {
      const li = document.createElement("li");
      li.textContent = s.title || "Untitled chat";
      li.title = new Date(s.updated_at).toLocaleString();
      li.dataset.id = s.id;
      if (s.id === state.sessionId) li.classList.add("active");
      li.addEventListener("click", () => openSession(s.id));
      list.append(li);
    }
  }

  async function openSession(id) {
    state.sessionId = id;
    history.replaceState(null, "", id ? `/s/${id}` : "/");
    $("#messages").innerHTML = "";
    $("#session-title").textContent = "New chat";
    document.querySelectorAll("#sessions li").forEach((li) => li.classList.toggle("active", li.dataset.id === id));
    if (!id) return;
    const [sRes, mRes] = await Promise.all([api(`/api/sessions/${id}`), api(`/api/sessions/${id}/messages`)]);
    if (!sRes.ok) { openSession(null); return; }
    const session = await sRes.json();
    $("#session-title").textContent = session.title || "Untitled chat";
    if (session.model) $("#model-picker").value = session.model;
    const branch = activeBranch(mRes.ok ? await mRes.json() : []);
    for (const m of branch) addMessage(m);
    const last = branch[branch.length - 1];
    if (last && last.role === "assistant" && last.model) $("#model-picker").value = last.model;
  }

  // Reads a text/event-stream body: yields {event, id, data} objects.
  async function* readSSE(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.search(/\r?\n\r?\n/)) !== -1) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
        const ev = { event: "message", id: null, data: "" };
        for (const line of block.split(/\r?\n/)) {
          if (!line || line.startsWith(":")) continue;
          const i = line.indexOf(":");
          const field = i === -1 ? line : line.slice(0, i);
          const val = i === -1 ? "" : line.slice(i + 1).replace(/^ /, "");
          if (field === "data") ev.data += (ev.data ? "\n" : "") + val;
          else if (field === "event") ev.event = val;
          else if (field === "id") ev.id = val;
        }
        if (ev.data) yield { ...ev, data: JSON.parse(ev.data) };
      }
    }
  }

  async function send(content) {
    if (!state.sessionId) {
      const res = await api("/api/sessions", { method: "POST", body: JSON.stringify({ model: $("#model-picker").value || null }) });
      if (!res.ok) { alert(await errorText(res)); return; }
      const session = await res.json();
      state.sessionId = session.id;
      history.replaceState(null, "", `/s/${session.id}`);
    }
    const last = [...document.querySelectorAll("#messages .msg")].pop();
    const payload = { content, stream: true, model: $("#model-picker").value || null };
    if (last) payload.parent = last.dataset.id;
    const res = await api(`/api/sessions/${state.sessionId}/messages`, {
      method: "POST", body: JSON.stringify(payload), headers: { Accept: "text/event-stream" },
    });
    if (!res.ok) { alert(await errorText(res)); return; }
    loadSessions();
    let replyEl = null, text = "", usage = null, error = null;
    for await (const ev of readSSE(res)) {
      const d = ev.data;
      if (ev.event === "message") {
        if (d.role === "user") addMessage({ ...d, content });
        else { replyEl = addMessage({ ...d, content: "" }); }
      } else if (ev.event === "delta" && replyEl) {
        text += d.text;
        renderMarkdown(replyEl.querySelector(".body"), text);
        replyEl.scrollIntoView({ block: "end" });
      } else if (ev.event === "usage") {
        usage = d;
      } else if (ev.event === "error") {
        error = d;
      } else if (ev.event === "done" && replyEl) {
        replyEl.className = `msg assistant ${d.status}`;
        replyEl.querySelector(".meta").textContent = metaText({
          model: $("#model-picker").value, usage, status: d.status, error: error && { code: error.code, detail: error.detail },
        });
      }
    }
  }

  $("#composer").addEventListener("submit", async (e) => {
    e.preventDefault();
    const box = $("#prompt");
    const content = box.value;
    if (!content.trim() || state.sending) return;
    state.sending = true; $("#send").disabled = true; box.value = "";
    try { await send(content); } catch (err) { alert("Sending failed: " + err); box.value = content; }
    finally { state.sending = false; $("#send").disabled = false; box.focus(); }
  });
  $("#prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("#composer").requestSubmit(); }
  });
  $("#new-session").addEventListener("click", () => openSession(null));

  (async () => {
    await loadModels();
    await loadSessions();
    const m = location.pathname.match(/^\/s\/([0-9a-f-]{36})/);
    if (m) await openSession(m[1]);
  })();
})();
