// Message rendering: the active branch of the tree as bubbles, comparisons side by side,
// with each reply's reasoning, plan, meta line (model, tokens, TTFB, tok/s), why it stopped
// (token limit, content filter) and controls (branch arrows, copy, edit, regenerate,
// continue, read aloud, prefer).
import { $, state, byId, childrenOf, activeBranch, modelName, button } from "./state.js";
import { renderMarkdown, copyText } from "./markdown.js";
import { attachmentList } from "./attachments.js";
import { readAloud } from "./audio.js";
import { regenerate, switchTo, prefer, send, continueReply } from "./conversation.js";
import { syncChatSettings } from "./chat-settings.js";

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

// Why a finished reply stopped, when it is worth saying (finish_reason, API.md).
const FINISH_NOTES = {
  length: "Stopped at the token limit",
  content_filter: "Stopped by the provider's content filter",
};

/** The element of one message (`inCompare`: a card of a comparison, without branch arrows). */
export function messageElement(msg, { inCompare = false } = {}) {
  const el = document.createElement("div");
  el.className = `msg ${msg.role} ${msg.status || ""}`;
  el.dataset.id = msg.id;
  const body = document.createElement("div");
  body.className = "body";
  const meta = document.createElement("div");
  meta.className = "meta";
  el.append(body, meta);
  if (msg.role === "tool") {
    body.textContent = `${msg.is_error ? "Tool error" : "Tool"} ${msg.tool_name}: ${msg.content}`;
  } else if (msg.role === "assistant") {
    el.setAttribute("aria-label", "Reply");
    if (msg.plan && msg.plan.length) showPlan(el, msg.plan);
    if (msg.reasoning) showReasoning(el, msg.reasoning, msg.status === "streaming" && !msg.content);
    renderMarkdown(body, msg.content, { streaming: msg.status === "streaming" });
    if (msg.tool_calls && msg.tool_calls.length) {
      const calls = document.createElement("div");
      calls.className = "tool-calls";
      calls.textContent = msg.tool_calls.map((c) => `→ ${c.name}(${JSON.stringify(c.arguments)})`).join("\n");
      el.insertBefore(calls, meta);
    }
    const note = msg.status !== "streaming" && FINISH_NOTES[msg.finish_reason];
    if (note) {
      const p = document.createElement("p");
      p.className = `finish-note ${msg.finish_reason}`;
      p.textContent = note;
      el.insertBefore(p, meta);
    }
    meta.textContent = metaText(msg);
    addReplyControls(el, msg, inCompare);
  } else {
    el.setAttribute("aria-label", "Your message");
    if (msg.attachments && msg.attachments.length) el.insertBefore(attachmentList(msg.attachments), body);
    body.textContent = msg.content;
    addUserControls(el, msg);
  }
  return el;
}

// A `plan` assistant's numbered steps, above its answer (revised plans replace it).
export function showPlan(el, steps) {
  let list = el.querySelector(":scope > ol.plan");
  if (!list) {
    list = document.createElement("ol");
    list.className = "plan";
    list.setAttribute("aria-label", "Plan");
    el.insertBefore(list, el.querySelector(":scope > .body"));
  }
  list.replaceChildren(...steps.map((step) => { const li = document.createElement("li"); li.textContent = step; return li; }));
}

// How long each reply seen streaming here thought: message id -> [first, last] reasoning
// chunk (ms, performance.now()). A reply loaded from the server says "Reasoning".
const thinking = new Map();

function reasoningLabel(block) {
  if (block.dataset.live === "1") return "Thinking…";
  const span = thinking.get(block.closest(".msg")?.dataset.id);
  if (!span) return "Reasoning";
  return `Thought for ${Math.max(1, Math.round((span[1] - span[0]) / 1000))} s`;
}

/**
 * The model's reasoning: a collapsible <details> above the answer, as plain text (it is
 * untrusted like the answer, and rarely meant as markdown). `open`: true while the
 * reasoning streams (it stays open, summary "Thinking…"), false once the answer starts
 * or for a stored reply (folded: "Thought for N s", or "Reasoning" when not timed here);
 * undefined leaves it as the user set it.
 */
export function showReasoning(el, text, open) {
  let block = el.querySelector(":scope > details.reasoning");
  const summaryOf = () => block.querySelector(":scope > summary");
  if (!block) {
    block = document.createElement("details");
    block.className = "reasoning";
    const summary = document.createElement("summary");
    const body = document.createElement("div");
    body.className = "reasoning-body";
    block.append(summary, body);
    el.prepend(block);
    // The answer started (the reply's loop folds the block): the thinking is over.
    block.addEventListener("toggle", () => {
      if (!block.open && block.dataset.live === "1") { block.dataset.live = "0"; summaryOf().textContent = reasoningLabel(block); }
    });
  }
  if (open === true) {
    const id = el.dataset.id;
    const now = performance.now();
    const span = thinking.get(id);
    if (span) span[1] = now; else thinking.set(id, [now, now]);
    block.dataset.live = "1";
  } else if (open === false) block.dataset.live = "0";
  block.querySelector(".reasoning-body").textContent = text;
  summaryOf().textContent = reasoningLabel(block);
  if (open !== undefined) block.open = open;
  return block;
}

function branchArrows(controls, siblings, msg) {
  if (siblings.length < 2) return;
  const i = siblings.findIndex((m) => m.id === msg.id);
  const prev = button("‹", () => switchTo(siblings[i - 1]), i === 0);
  const next = button("›", () => switchTo(siblings[i + 1]), i === siblings.length - 1);
  prev.setAttribute("aria-label", "Previous version");
  next.setAttribute("aria-label", "Next version");
  const label = document.createElement("span");
  label.className = "branch-count";
  label.textContent = `${i + 1}/${siblings.length}`;
  const group = document.createElement("span");
  group.className = "branches";
  group.setAttribute("role", "group");
  group.setAttribute("aria-label", `Version ${i + 1} of ${siblings.length}`);
  group.append(prev, label, next);
  controls.append(group);
}

function copyButton(text, what) {
  const b = button("Copy", (e) => copyText(text, e.currentTarget));
  b.classList.add("copy-message");
  b.setAttribute("aria-label", `Copy ${what}`);
  return b;
}

function addReplyControls(el, msg, inCompare) {
  const controls = document.createElement("div");
  controls.className = "controls";
  const siblings = childrenOf(msg.parent).filter((m) => m.role === "assistant");
  if (!inCompare) branchArrows(controls, siblings, msg);
  if (msg.content) controls.append(copyButton(msg.content, "reply as Markdown"));
  controls.append(button("Regenerate", () => regenerate(msg.id), !!state.streaming));
  if (msg.finish_reason === "length" && msg.status !== "streaming" && msg.content) {
    const more = button("Continue", () => continueReply(msg.id), !!state.streaming);
    more.classList.add("continue");
    controls.append(more);
  }
  if (msg.content) controls.append(button("Read aloud", (e) => readAloud(msg.content, e.currentTarget)));
  if (siblings.length > 1) controls.append(button(msg.preferred ? "★ Preferred" : "☆ Prefer", () => prefer(msg)));
  el.append(controls);
}

function addUserControls(el, msg) {
  const controls = document.createElement("div");
  controls.className = "controls";
  branchArrows(controls, childrenOf(msg.parent).filter((m) => m.role === "user"), msg);
  controls.append(copyButton(msg.content, "message"));
  const edit = button("Edit", () => editInPlace(el, msg), !!state.streaming);
  edit.classList.add("edit");
  edit.setAttribute("aria-label", "Edit this message into a new branch");
  controls.append(edit);
  el.append(controls);
}

// Edit a sent message in place: Save (or Enter) sends the new text under the same parent,
// a new branch beside the original (‹ n/m › switches between them); Cancel (or Esc) puts
// the message back.
function editInPlace(el, msg) {
  if (el.classList.contains("editing")) return;
  el.classList.add("editing");
  const body = el.querySelector(":scope > .body");
  const controls = el.querySelector(":scope > .controls");
  const form = document.createElement("form");
  form.className = "edit-form";
  const area = document.createElement("textarea");
  area.value = msg.content;
  area.rows = Math.min(12, Math.max(2, msg.content.split("\n").length));
  area.setAttribute("aria-label", "Edit message");
  const save = document.createElement("button");
  save.type = "submit"; save.textContent = "Save"; save.className = "small";
  const cancelButton = button("Cancel", () => close());
  const row = document.createElement("div");
  row.className = "edit-actions";
  row.append(save, cancelButton);
  form.append(area, row);
  body.hidden = true; controls.hidden = true;
  el.insertBefore(form, body);
  area.focus();
  area.setSelectionRange(area.value.length, area.value.length);

  function close() {
    form.remove(); body.hidden = false; controls.hidden = false; el.classList.remove("editing");
    controls.querySelector("button.edit")?.focus();
  }
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = area.value;
    if (!text.trim() || state.streaming) return;
    if (text === msg.content) { close(); return; }
    save.disabled = true;
    await send(text, { parent: msg.parent });
  });
  area.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
    else if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); close(); }
  });
}

// Replies of one comparison are created with their user message in one request (within
// 1 s); a regenerated or continued reply comes later.
function comparisonOf(msg) {
  if (msg.role !== "assistant" || !msg.parent) return null;
  const parent = byId().get(msg.parent);
  const siblings = childrenOf(msg.parent).filter((m) => m.role === "assistant"
    // Compared replies are stored in the user message's own transaction (microseconds
    // apart); a regenerated or continued sibling comes after a reply and a click.
    && Math.abs(new Date(m.created_at) - new Date(parent.created_at)) < 100);
  return siblings.length > 1 && siblings.some((m) => m.id === msg.id) ? siblings : null;
}

export function render() {
  const box = $("#messages");
  box.innerHTML = "";
  for (const m of activeBranch()) {
    const group = comparisonOf(m);
    if (!group) { box.append(messageElement(m)); continue; }
    const row = document.createElement("div");
    row.className = "compare-row";
    for (const reply of group) {
      const el = messageElement(reply, { inCompare: true });
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
  syncChatSettings();
}

export function setStreaming(id) {
  state.streaming = id;
  $("#send").textContent = id ? "Stop" : "Send";
  $("#send").classList.toggle("stop", !!id);
}
