// The open chat's settings (a dialog from the header's "Chat settings" button): its system
// prompt and temperature, read from and saved with PATCH /api/sessions/{id} (API.md:
// `system_prompt` ≤ 8000 characters, "" for none; `temperature` 0–2, null for the model's
// default). A new chat has no settings until its first message creates it: the button is
// disabled until then. Errors show in the dialog.
import { $, state } from "./state.js";
import { api } from "./api.js";

const MAX_PROMPT = 8000;

/** Enable the header button when a chat is open (messages.js calls it on every render). */
export function syncChatSettings() {
  const b = $("#chat-settings-open");
  if (!b) return;
  b.disabled = !state.sessionId;
  b.title = state.sessionId ? "Chat settings" : "Chat settings (send a first message to create the chat)";
}

function showError(text) {
  const box = $("#chat-settings-error");
  box.textContent = text;
  box.hidden = !text;
}

// A 4xx body {"code","message","detail":{field: [...]}} as one line per field.
async function problemText(res) {
  try {
    const body = await res.json();
    const fields = Object.entries(body.detail || {}).map(([f, v]) => `${f.replace("_", " ")}: ${[].concat(v).join(" ")}`);
    return [body.message, ...fields].filter(Boolean).join(" — ") || res.statusText;
  } catch { return `${res.status} ${res.statusText}`; }
}

async function openDialog() {
  if (!state.sessionId) return;
  const dialog = $("#chat-settings");
  showError("");
  const res = await api(`/api/sessions/${state.sessionId}`);
  if (res.ok) state.session = { ...state.session, ...(await res.json()) };
  else showError(`Could not load the settings: ${await problemText(res)}`);
  const s = state.session || {};
  $("#chat-system-prompt").value = s.system_prompt || "";
  $("#chat-temperature").value = s.temperature == null ? "" : String(s.temperature);
  countChars();
  dialog.showModal();
  $("#chat-system-prompt").focus();
}

function countChars() {
  $("#chat-system-prompt-count").textContent = `${$("#chat-system-prompt").value.length} / ${MAX_PROMPT}`;
}

async function save(e) {
  e.preventDefault();
  const raw = $("#chat-temperature").value.trim();
  const temperature = raw === "" ? null : Number(raw);
  if (temperature !== null && !(temperature >= 0 && temperature <= 2)) {
    showError("Temperature: a number from 0 to 2, or empty for the model's default.");
    $("#chat-temperature").focus();
    return;
  }
  const saveButton = $("#chat-settings-save");
  saveButton.disabled = true;
  try {
    const res = await api(`/api/sessions/${state.sessionId}`, {
      method: "PATCH", body: JSON.stringify({ system_prompt: $("#chat-system-prompt").value, temperature }),
    });
    if (!res.ok) { showError(`Not saved: ${await problemText(res)}`); return; }
    state.session = { ...state.session, ...(await res.json()) };
    $("#chat-settings").close();
    $("#chat-settings-open").focus();
  } catch (err) {
    showError(`Not saved: ${err}`);
  } finally { saveButton.disabled = false; }
}

export function installChatSettings() {
  $("#chat-settings-open").addEventListener("click", openDialog);
  $("#chat-settings-form").addEventListener("submit", save);
  $("#chat-settings-cancel").addEventListener("click", () => $("#chat-settings").close());
  $("#chat-system-prompt").addEventListener("input", () => { countChars(); showError(""); });
  $("#chat-temperature").addEventListener("input", () => showError(""));
  syncChatSettings();
}
