// Message rendering: the active branch of the tree as bubbles, comparisons side by side,
// with each reply's reasoning, plan, meta line (model, tokens, TTFB, tok/s) and controls.
import { $, state, byId, childrenOf, activeBranch, modelName, button } from "./state.js";
import { renderMarkdown } from "./markdown.js";
import { attachmentList } from "./attachments.js";
import { readAloud } from "./audio.js";
import { regenerate, switchTo, prefer } from "./conversation.js";

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

export function messageElement(msg) {
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

// The model's reasoning: its own collapsible block above the answer, as plain text (it is
// untrusted like the answer, and rarely meant as markdown). Open while it streams; it
// folds away when the answer starts (`open`: whether to leave it open).
export function showReasoning(el, text, open) {
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

// Replies of one comparison were all created with their user message (within 2 s).
function comparisonOf(msg) {
  if (msg.role !== "assistant" || !msg.parent) return null;
  const parent = byId().get(msg.parent);
  const siblings = childrenOf(msg.parent).filter((m) => m.role === "assistant"
    && Math.abs(new Date(m.created_at) - new Date(parent.created_at)) < 2000);
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

export function setStreaming(id) {
  state.streaming = id;
  $("#send").textContent = id ? "Stop" : "Send";
  $("#send").classList.toggle("stop", !!id);
}
