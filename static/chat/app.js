// Chat page: sessions, model picker, streamed replies (SSE over fetch), stop, regenerate,
// branch switching, resume after reload. Markdown is rendered with marked and sanitised
// with DOMPurify, so model output never runs script.
(() => {
  "use strict";
  const $ = (sel) => document.querySelector(sel);
  const state = { sessionId: null, session: null, models: [], assistants: [], messages: [], streaming: null };

  function csrfToken() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  async function api(path, options = {}) {
    const headers = { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), ...(options.headers || {}) };
    const res = await fetch(path, { credentials: "same-origin", ...options, headers });
    if (res.status === 401) location.href = "/login/?next=" + encodeURIComponent(location.pathname);
    return res;
  }

  async function errorText(res) {
    try { const body = await res.json(); return body.message || res.statusText; } catch { return res.statusText; }
  }

  // Model output is untrusted HTML. Besides scripts (DOMPurify's default), nothing in it may
  // restyle or overlay the page (<style>, style=), pose as the app's own controls or post
  // anywhere (forms, inputs, buttons), embed other pages or plugins, or make the browser
  // fetch anything: an <img> keeps only an inline data: image, so a reply cannot ping a
  // server (same-origin or remote) once per streamed delta. Links open in a new tab
  // without the page as opener or referrer. The CSP (core/middleware.py) is the second wall.
  const PURIFY_CONFIG = {
    USE_PROFILES: { html: true },
    FORBID_TAGS: ["style", "link", "meta", "base", "form", "input", "button", "textarea", "select", "option",
      "optgroup", "datalist", "output", "fieldset", "iframe", "frame", "frameset", "object", "embed", "applet",
      "video", "audio", "source", "track", "picture", "dialog", "template", "marquee"],
    FORBID_ATTR: ["style", "srcset", "sizes", "action", "formaction", "background", "poster", "ping", "autofocus"],
    ALLOW_DATA_ATTR: false,
    SANITIZE_NAMED_PROPS: true, // id/name get a "user-content-" prefix: no clobbering the app's #ids
  };
  const INLINE_IMAGE = /^data:image\/(png|gif|jpeg|webp);base64,[a-z0-9+/=\s]*$/i;
  DOMPurify.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName === "IMG" && !INLINE_IMAGE.test(node.getAttribute("src") || "")) {
      const alt = node.getAttribute("alt") || "";
      node.removeAttribute("src");
      node.setAttribute("alt", alt ? `[image not loaded: ${alt}]` : "[image not loaded]");
    }
    if (node.tagName === "A" && node.hasAttribute("href")) {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer");
    }
  });

  function renderMarkdown(el, text) {
    el.innerHTML = DOMPurify.sanitize(marked.parse(text || ""), PURIFY_CONFIG);
  }

  const modelName = (id) => (state.models.find((x) => x.id === id) || {}).name || "";

  function metaText(msg) {
    const parts = [];
    if (msg.model) parts.push(modelName(msg.model));
    const u = msg.usage || {};
    if (u.completion_tokens != null) parts.push(`${u.completion_tokens} tokens`);
    if (u.ttfb_ms != null) parts.push(`TTFB ${u.ttfb_ms} ms`);
    if (u.duration_ms && u.completion_tokens && u.ttfb_ms != null && u.duration_ms > u.ttfb_ms)
      parts.push(`${(u.completion_tokens / ((u.duration_ms - u.ttfb_ms) / 1000)).toFixed(1)} tok/s`);
    if (msg.status && msg.status !== "complete") parts.push(msg.status);
    if (msg.error) parts.push(`${msg.error.code}: ${msg.error.detail}`);
    return parts.join(" · ");
  }

  // --- tree helpers -----------------------------------------------------------------------
  const byId = () => new Map(state.messages.map((m) => [m.id, m]));
  const childrenOf = (id) => state.messages.filter((m) => m.parent === id);

  function newestLeafUnder(id) {
    let node = byId().get(id);
    for (;;) {
      const kids = childrenOf(node.id);
      if (!kids.length) return node;
      node = kids[kids.length - 1];
    }
  }

  function activeBranch() {
    if (!state.messages.length) return [];
    const index = byId();
    let leaf = state.session && state.session.active_leaf && index.get(state.session.active_leaf);
    if (!leaf) {
      const parents = new Set(state.messages.map((m) => m.parent).filter(Boolean));
      const leaves = state.messages.filter((m) => !parents.has(m.id));
      leaf = leaves[leaves.length - 1];
    }
    const path = [];
    while (leaf) { path.push(leaf); leaf = leaf.parent ? index.get(leaf.parent) : null; }
    return path.reverse();
  }

  // --- rendering ----------------------------------------------------------------------------
  function messageElement(msg) {
    const el = document.createElement("div");
    el.className = `msg ${msg.role} ${msg.status || ""}`;
    el.dataset.id = msg.id;
    const body = document.createElement("div");
    body.className = "body";
    const meta = document.createElement("div");
    meta.className = "meta";
    el.append(body, meta);
    if (msg.role === "tool") {
      body.textContent = `${msg.is_error ? "⚠" : "🔧"} ${msg.tool_name}: ${msg.content}`;
    } else if (msg.role === "assistant") {
      if (msg.plan && msg.plan.length) showPlan(el, msg.plan);
      if (msg.reasoning) showReasoning(el, msg.reasoning, msg.status === "streaming" && !msg.content);
      renderMarkdown(body, msg.content);
      if (msg.tool_calls && msg.tool_calls.length)
        body.insertAdjacentText("beforeend", msg.tool_calls.map((c) => `→ ${c.name}(${JSON.stringify(c.arguments)})`).join("\n"));
      meta.textContent = metaText(msg);
      addControls(el, msg);
    } else {
      if (msg.attachments && msg.attachments.length) el.insertBefore(attachmentList(msg.attachments), body);
      body.textContent = msg.content;
    }
    return el;
  }

  // A `plan` assistant's numbered steps, above its answer (revised plans replace it).
  function showPlan(el, steps) {
    let list = el.querySelector(":scope > ol.plan");
    if (!list) {
      list = document.createElement("ol");
      list.className = "plan";
      list.setAttribute("aria-label", "Plan");
      el.insertBefore(list, el.querySelector(":scope > .body"));
    }
    list.replaceChildren(...steps.map((step) => { const li = document.createElement("li"); li.textContent = step; return li; }));
  }

  // The model's reasoning: its own collapsible block above the answer, as plain text (it is
  // untrusted like the answer, and rarely meant as markdown). Open while it streams; it
  // folds away when the answer starts (`open`: whether to leave it open).
  function showReasoning(el, text, open) {
    let block = el.querySelector(":scope > details.reasoning");
    if (!block) {
      block = document.createElement("details");
      block.className = "reasoning";
      const summary = document.createElement("summary");
      summary.textContent = "Reasoning";
      const body = document.createElement("div");
      body.className = "reasoning-body";
      block.append(summary, body);
      el.prepend(block);
    }
    block.querySelector(".reasoning-body").textContent = text;
    if (open !== undefined) block.open = open;
    return block;
  }

  function addControls(el, msg) {
    const controls = document.createElement("div");
    controls.className = "controls";
    const siblings = childrenOf(msg.parent).filter((m) => m.role === "assistant");
    if (siblings.length > 1) {
      const i = siblings.findIndex((m) => m.id === msg.id);
      const prev = button("‹", () => switchTo(siblings[i - 1]), i === 0);
      const next = button("›", () => switchTo(siblings[i + 1]), i === siblings.length - 1);
      const label = document.createElement("span");
      label.textContent = `${i + 1}/${siblings.length}`;
      controls.append(prev, label, next);
    }
    controls.append(button("Regenerate", () => regenerate(msg.id), !!state.streaming));
    if (msg.content) controls.append(button("🔊 Read", (e) => readAloud(msg.content, e.target)));
    if (siblings.length > 1) controls.append(button(msg.preferred ? "★ Preferred" : "☆ Prefer", () => prefer(msg)));
    el.append(controls);
  }

  function button(text, onClick, disabled = false) {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = text; b.disabled = disabled; b.className = "small";
    b.addEventListener("click", onClick);
    return b;
  }

  // Replies of one comparison were all created with their user message (within 2 s).
  function comparisonOf(msg) {
    if (msg.role !== "assistant" || !msg.parent) return null;
    const parent = byId().get(msg.parent);
    const siblings = childrenOf(msg.parent).filter((m) => m.role === "assistant"
      && Math.abs(new Date(m.created_at) - new Date(parent.created_at)) < 2000);
    return siblings.length > 1 && siblings.some((m) => m.id === msg.id) ? siblings : null;
  }

  function render() {
    const box = $("#messages");
    box.innerHTML = "";
    for (const m of activeBranch()) {
      const group = comparisonOf(m);
      if (!group) { box.append(messageElement(m)); continue; }
      const row = document.createElement("div");
      row.className = "compare-row";
      for (const reply of group) {
        const el = messageElement(reply);
        const name = document.createElement("div");
        name.className = "model-name";
        name.textContent = modelName(reply.model) || "model";
        el.prepend(name);
        el.classList.toggle("preferred", !!reply.preferred);
        row.append(el);
      }
      box.append(row);
    }
    box.scrollTop = box.scrollHeight;
  }

  function setStreaming(id) {
    state.streaming = id;
    $("#send").textContent = id ? "Stop" : "Send";
    $("#send").classList.toggle("stop", !!id);
  }

  // --- data -----------------------------------------------------------------------------------
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
    const list = $("#compare-models");
    list.innerHTML = "";
    for (const m of state.models) {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox"; box.value = m.id;
      label.append(box, ` ${m.name}`);
      list.append(label);
    }
  }

  // Assistants (a prompt, a model and tools under one name): picking one sends its id, and
  // the assistant's own model answers (the model picker is off meanwhile).
  async function loadAssistants() {
    const res = await api("/api/assistants");
    state.assistants = res.ok ? await res.json() : [];
    const picker = $("#assistant-picker");
    for (const a of state.assistants) {
      const opt = document.createElement("option");
      opt.value = a.id; opt.textContent = a.name; opt.title = a.description || "";
      picker.append(opt);
    }
    picker.closest("label").hidden = state.assistants.length === 0;
  }
  const assistantChosen = () => $("#assistant-picker").value || null;
  function assistantChanged() { $("#model-picker").disabled = !!assistantChosen(); }

  const compareSelection = () => [...document.querySelectorAll("#compare-models input:checked")].map((b) => b.value);

  async function loadSessions() {
    const res = await api("/api/sessions?limit=200");
    if (!res.ok) return;
    const list = $("#sessions");
    list.innerHTML = "";
    for (const s of (await res.json()).results) {
      const li = document.createElement("li");
      li.textContent = s.title || "Untitled chat";
      li.title = new Date(s.updated_at).toLocaleString();
      li.dataset.id = s.id;
      li.classList.toggle("active", s.id === state.sessionId);
      li.addEventListener("click", () => openSession(s.id));
      list.append(li);
    }
  }

  async function refresh() {
    const [sRes, mRes] = await Promise.all([api(`/api/sessions/${state.sessionId}`), api(`/api/sessions/${state.sessionId}/messages`)]);
    if (!sRes.ok) return false;
    state.session = await sRes.json();
    state.messages = mRes.ok ? await mRes.json() : [];
    $("#session-title").textContent = state.session.title || "Untitled chat";
    render();
    return true;
  }

  // Live updates from the server for the open session: new titles, and replies made in
  // another tab or over the API.
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
        const li = document.querySelector(`#sessions li[data-id="${id}"]`);
        if (li) li.textContent = frame.session.title || "Untitled chat";
      } else if (frame.type === "message_update" && !state.streaming && !byId().has(frame.message.id)) {
        refresh();
      }
    };
    socket.onclose = () => setTimeout(() => { if (state.sessionId === id) watch(id); }, 3000);
  }

  async function openSession(id) {
    watch(id);
    state.sessionId = id; state.session = null; state.messages = [];
    history.replaceState(null, "", id ? `/s/${id}` : "/");
    document.querySelectorAll("#sessions li").forEach((li) => li.classList.toggle("active", li.dataset.id === id));
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

  // Applies a reply's events to the page as they arrive, then reloads the stored state.
  // `sent`: the text and attachments of the user message this page just sent (its `message`
  // event carries neither), shown at once.
  async function follow(res, compareStream = false, sent = null) {
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

  async function send(content) {
    if (!state.sessionId) {
      const res = await api("/api/sessions", { method: "POST", body: JSON.stringify(assistantChosen()
        ? { assistant: assistantChosen() } : { model: $("#model-picker").value || null }) });
      if (!res.ok) { alert(await errorText(res)); return; }
      const session = await res.json();
      state.sessionId = session.id; state.session = session; state.messages = [];
      history.replaceState(null, "", `/s/${session.id}`);
      watch(session.id);
    }
    const branch = activeBranch();
    const models = compareSelection();
    const parent = branch.length ? branch[branch.length - 1].id : null;
    const files = pending.filter((p) => p.id);
    const attachments = files.map((p) => p.id);
    const sent = { content, attachments: files.map((p) => p.meta) };
    const taken = () => { for (const p of files) { pending.splice(pending.indexOf(p), 1); if (p.url) URL.revokeObjectURL(p.url); } renderPending(); };
    if (models.length >= 2) {
      const res = await api(`/api/sessions/${state.sessionId}/compare`, {
        method: "POST", body: JSON.stringify({ content, parent, models, attachments, stream: true }), headers: { Accept: "text/event-stream" },
      });
      if (res.ok) taken();
      await follow(res, true, sent);
      return;
    }
    const payload = { content, stream: true, model: assistantChosen() ? null : $("#model-picker").value || null, attachments };
    if (assistantChosen()) payload.assistant = assistantChosen();
    if (parent) payload.parent = parent;
    const res = await api(`/api/sessions/${state.sessionId}/messages`, {
      method: "POST", body: JSON.stringify(payload), headers: { Accept: "text/event-stream" },
    });
    if (res.ok) taken();
    await follow(res, false, sent);
  }

  // --- attachments --------------------------------------------------------------------------
  // Files dropped on the chat, pasted into the prompt or picked with 📎 go to POST /api/files
  // at once; each shows as a chip above the prompt (an image with its preview) until the
  // message that carries them is sent. A refused file keeps its chip, with the reason.
  const pending = []; // { file, url (a local preview), id and meta once stored, error }
  const fileSize = (n) => (n < 1024 ? `${n} B` : n < 1048576 ? `${Math.round(n / 1024)} KB` : `${(n / 1048576).toFixed(1)} MB`);

  function chipElement({ name, image, note, href, cls, onRemove }) {
    const li = document.createElement("li");
    li.className = `chip ${cls || ""}`;
    if (image) {
      const img = document.createElement("img");
      img.src = image; img.alt = ""; img.loading = "lazy";
      li.append(img);
    } else {
      const icon = document.createElement("span");
      icon.className = "doc-icon"; icon.textContent = "📄"; icon.setAttribute("aria-hidden", "true");
      li.append(icon);
    }
    const label = document.createElement(href ? "a" : "span");
    label.className = "name"; label.textContent = name; label.title = name;
    if (href) { label.href = href; label.target = "_blank"; label.rel = "noopener"; }
    li.append(label);
    if (note) {
      const small = document.createElement("span");
      small.className = "note"; small.textContent = note;
      li.append(small);
    }
    if (onRemove) {
      const remove = document.createElement("button");
      remove.type = "button"; remove.className = "remove"; remove.textContent = "×";
      remove.setAttribute("aria-label", `Remove ${name}`);
      remove.addEventListener("click", onRemove);
      li.append(remove);
    }
    return li;
  }

  // A stored message's attachments (REST `attachments`), shown above its text.
  function attachmentList(files) {
    const list = document.createElement("ul");
    list.className = "chips";
    list.setAttribute("aria-label", "Attachments");
    for (const f of files) {
      const href = `/api/files/${f.id}/content`;
      const note = f.truncated ? "cut to fit the model" : fileSize(f.size);
      list.append(chipElement({ name: f.name, image: f.kind === "image" ? href : null, note, href }));
    }
    return list;
  }

  function renderPending() {
    const list = $("#attachments");
    list.replaceChildren(...pending.map((p) => chipElement({
      name: p.file.name || "pasted image", image: p.url,
      note: p.error || (p.id ? fileSize(p.meta.size) + (p.meta.text_chars != null ? ` · ${p.meta.text_chars.toLocaleString()} chars` : "") : "uploading…"),
      cls: p.error ? "failed" : p.id ? "ready" : "uploading",
      onRemove: () => { pending.splice(pending.indexOf(p), 1); if (p.url) URL.revokeObjectURL(p.url); renderPending(); },
    })));
    list.hidden = pending.length === 0;
  }

  async function upload(item) {
    const form = new FormData();
    form.append("file", item.file, item.file.name || "pasted.png");
    try {
      const res = await fetch("/api/files", { method: "POST", body: form, credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() } });
      if (res.ok) { item.meta = await res.json(); item.id = item.meta.id; } else item.error = await errorText(res);
    } catch (err) { item.error = String(err); }
    renderPending();
  }

  function attach(files) {
    const items = [...files].map((file) => ({ file, url: file.type.startsWith("image/") ? URL.createObjectURL(file) : null }));
    pending.push(...items);
    renderPending();
    return Promise.all(items.map(upload));
  }

  async function prefer(msg) {
    const res = await api(`/api/messages/${msg.id}/prefer`, { method: "POST" });
    if (!res.ok) { alert(await errorText(res)); return; }
    // Continue the conversation from the preferred reply.
    await api(`/api/sessions/${state.sessionId}`, { method: "PATCH", body: JSON.stringify({ active_leaf: newestLeafUnder(msg.id).id }) });
    await refresh();
  }

  let playing = null;
  async function readAloud(text, btn) {
    if (playing) { playing.pause(); playing = null; }
    btn.disabled = true;
    try {
      const res = await api("/api/audio/speech", { method: "POST", body: JSON.stringify({ input: text.slice(0, 4096), response_format: "mp3" }) });
      if (!res.ok) { alert(await errorText(res)); return; }
      playing = new Audio(URL.createObjectURL(await res.blob()));
      await playing.play();
    } finally { btn.disabled = false; }
  }

  let recorder = null;
  async function toggleDictation() {
    const mic = $("#mic");
    if (recorder) { recorder.stop(); return; }
    let stream;
    try { stream = await navigator.mediaDevices.getUserMedia({ audio: true }); }
    catch (err) { alert("No microphone: " + err.message); return; }
    const parts = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (e) => parts.push(e.data);
    recorder.onstop = async () => {
      stream.getTracks().forEach((t) => t.stop());
      recorder = null; mic.classList.remove("recording"); mic.disabled = true;
      try {
        const form = new FormData();
        form.append("file", new Blob(parts, { type: parts[0] ? parts[0].type : "audio/webm" }), "dictation.webm");
        const res = await fetch("/api/audio/transcriptions", { method: "POST", body: form, credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() } });
        if (!res.ok) { alert(await errorText(res)); return; }
        const box = $("#prompt");
        box.value = (box.value ? box.value + " " : "") + (await res.json()).text;
        box.focus();
      } finally { mic.disabled = false; }
    };
    recorder.start();
    mic.classList.add("recording");
  }

  async function regenerate(id) {
    const res = await api(`/api/messages/${id}/regenerate`, {
      method: "POST", body: JSON.stringify({ stream: true, model: $("#model-picker").value || null }),
      headers: { Accept: "text/event-stream" },
    });
    await follow(res);
  }

  async function switchTo(message) {
    if (!message) return;
    const leaf = newestLeafUnder(message.id);
    const res = await api(`/api/sessions/${state.sessionId}`, { method: "PATCH", body: JSON.stringify({ active_leaf: leaf.id }) });
    if (res.ok) { state.session = await res.json(); render(); }
  }

  $("#composer").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (state.streaming) {
      await api(`/api/messages/${state.streaming}/cancel`, { method: "POST" });
      return;
    }
    const box = $("#prompt");
    const content = box.value;
    if (!content.trim()) return;
    if (pending.some((p) => !p.id && !p.error)) { alert("A file is still uploading; send once its chip is ready."); return; }
    box.value = "";
    try { await send(content); } catch (err) { alert("Sending failed: " + err); box.value = content; }
    finally { box.focus(); }
  });
  $("#prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); if (!state.streaming) $("#composer").requestSubmit(); }
  });
  $("#attach").addEventListener("click", () => $("#attach-input").click());
  $("#attach-input").addEventListener("change", (e) => { attach(e.target.files); e.target.value = ""; });
  $("#prompt").addEventListener("paste", (e) => {
    const files = [...(e.clipboardData ? e.clipboardData.files : [])];
    if (files.length) { e.preventDefault(); attach(files); }
  });
  const chat = $("#chat");
  let dragDepth = 0;
  chat.addEventListener("dragenter", (e) => { if (e.dataTransfer && [...e.dataTransfer.types].includes("Files")) { dragDepth++; chat.classList.add("dropping"); } });
  chat.addEventListener("dragleave", () => { if (dragDepth && !--dragDepth) chat.classList.remove("dropping"); });
  chat.addEventListener("dragover", (e) => { if (e.dataTransfer && [...e.dataTransfer.types].includes("Files")) e.preventDefault(); });
  chat.addEventListener("drop", (e) => {
    dragDepth = 0; chat.classList.remove("dropping");
    if (e.dataTransfer && e.dataTransfer.files.length) { e.preventDefault(); attach(e.dataTransfer.files); }
  });
  $("#assistant-picker").addEventListener("change", assistantChanged);
  $("#new-session").addEventListener("click", () => openSession(null));
  $("#mic").addEventListener("click", toggleDictation);

  (async () => {
    await loadModels();
    await loadAssistants();
    await loadSessions();
    const m = location.pathname.match(/^\/s\/([0-9a-f-]{36})/);
    if (m) await openSession(m[1]);
  })();
})();
