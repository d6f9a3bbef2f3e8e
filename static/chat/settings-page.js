// The settings page (/settings/): the user's API keys (list, create — the key shown once,
// with Copy —, revoke after an in-page confirm) and their usage and budget (GET /api/usage).
import { $ } from "./state.js";
import { api, errorText } from "./api.js";
import { confirmDialog } from "./dialogs.js";

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "Never");
const num = (n) => Number(n).toLocaleString();
const money = (n) => Number(n).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 6 });

function notice(text, error = false) {
  const p = document.createElement("p");
  p.className = error ? "error" : "";
  if (error) p.setAttribute("role", "alert");
  p.textContent = text;
  $("#settings-notice").replaceChildren(p);
}

function cell(row, text, tag = "td") {
  const el = document.createElement(tag);
  if (tag === "th") el.scope = "row";
  el.textContent = text;
  row.append(el);
  return el;
}

async function loadKeys() {
  const res = await api("/api/keys");
  if (!res.ok) { notice(`Could not load keys: ${await errorText(res)}`, true); return; }
  const keys = await res.json();
  const body = $("#keys-body");
  body.replaceChildren(...keys.map((k) => {
    const tr = document.createElement("tr");
    tr.dataset.id = k.id;
    cell(tr, k.name, "th");
    cell(tr, `${k.prefix}…`).className = "mono";
    cell(tr, when(k.created_at));
    cell(tr, when(k.last_used_at));
    const b = document.createElement("button");
    b.type = "button"; b.className = "small"; b.textContent = "Revoke";
    b.setAttribute("aria-label", `Revoke ${k.name}`);
    b.addEventListener("click", () => revoke(k));
    cell(tr, "").append(b);
    return tr;
  }));
  $("#keys-empty").hidden = keys.length > 0;
}

async function revoke(k) {
  if (!(await confirmDialog(`Revoke the key "${k.name}"? Programs using it will stop working.`, { confirmLabel: "Revoke", danger: true }))) return;
  const res = await api(`/api/keys/${k.id}`, { method: "DELETE" });
  if (!res.ok) { notice(`Revoking failed: ${await errorText(res)}`, true); return; }
  notice(`Key "${k.name}" revoked.`);
  await loadKeys();
}

async function createKey(e) {
  e.preventDefault();
  const name = $("#key-name").value.trim();
  if (!name) return;
  const res = await api("/api/keys", { method: "POST", body: JSON.stringify({ name }) });
  if (!res.ok) { notice(`Creating the key failed: ${await errorText(res)}`, true); return; }
  const key = await res.json();
  $("#key-name").value = "";
  $("#new-key").hidden = false;
  $("#new-key-value").value = key.key;
  $("#new-key-value").focus();
  $("#new-key-value").select();
  await loadKeys();
}

async function copyKey() {
  try {
    await navigator.clipboard.writeText($("#new-key-value").value);
    $("#copy-key").textContent = "Copied";
  } catch {
    $("#new-key-value").select();
    notice("Copying was refused by the browser: the key is selected, copy it with Ctrl+C.");
  }
}

function stat(dl, label, value) {
  const dt = document.createElement("dt"); dt.textContent = label;
  const dd = document.createElement("dd"); dd.textContent = value;
  const pair = document.createElement("div"); pair.append(dt, dd);
  dl.append(pair);
}

async function loadUsage(e) {
  if (e) e.preventDefault();
  const res = await api(`/api/usage?from=${$("#usage-from").value}&to=${$("#usage-to").value}`);
  if (!res.ok) { notice(`Could not load usage: ${await errorText(res)}`, true); return; }
  const { days, totals, budget } = await res.json();
  const t = $("#usage-totals"); t.replaceChildren();
  stat(t, "Replies", num(totals.replies));
  stat(t, "Prompt tokens", num(totals.prompt_tokens));
  stat(t, "Completion tokens", num(totals.completion_tokens));
  stat(t, "Cost", money(totals.cost));
  const b = $("#usage-budget"); b.replaceChildren();
  stat(b, "Tokens", budget.tokens_left == null ? "No limit" : num(budget.tokens_left));
  stat(b, "Cost", budget.cost_left == null ? "No limit" : money(budget.cost_left));
  stat(b, "Resets", budget.resets_at ? when(budget.resets_at) : "—");
  $("#usage-body").replaceChildren(...days.map((d) => {
    const tr = document.createElement("tr");
    cell(tr, d.date, "th");
    cell(tr, d.model_name || "(deleted model)");
    for (const v of [num(d.replies), num(d.prompt_tokens), num(d.completion_tokens), money(d.cost)]) cell(tr, v).className = "num";
    return tr;
  }));
  $("#usage-empty").hidden = days.length > 0;
}

const iso = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
const today = new Date();
$("#usage-from").value = iso(new Date(today.getFullYear(), today.getMonth(), 1));
$("#usage-to").value = iso(today);
$("#key-form").addEventListener("submit", createKey);
$("#copy-key").addEventListener("click", copyKey);
$("#usage-form").addEventListener("submit", loadUsage);
await Promise.all([loadKeys(), loadUsage()]);
