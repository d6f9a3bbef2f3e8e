// The model and assistant pickers. Picking an assistant (a prompt, a model and tools under
// one name) sends its id, and the assistant's own model answers (the model picker is off
// meanwhile).
import { $, state } from "./state.js";
import { api } from "./api.js";
import { fillCompare } from "./compare.js";

export async function loadModels() {
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
  fillCompare(state.models);
  preselectModel(null);
}

// The model a new chat starts with: the admin's default (`is_default`), else the first
// available one.
function defaultModel() {
  const m = state.models.find((x) => x.is_default) || state.models.find((x) => x.is_available) || state.models[0];
  return m ? m.id : "";
}

/**
 * Preselect the model picker: for an open chat its last reply's model, else the chat's
 * model (`session.model`), else the default; for a new chat (`session` null) the default.
 */
export function preselectModel(session, last = null) {
  const picker = $("#model-picker");
  const known = (id) => id && state.models.some((x) => x.id === id);
  const pick = [last && last.role === "assistant" && last.model, session && session.model].find(known) || defaultModel();
  if (pick) picker.value = pick;
}

export async function loadAssistants() {
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

export const assistantChosen = () => $("#assistant-picker").value || null;
export const modelChosen = () => $("#model-picker").value || null;
export function assistantChanged() { $("#model-picker").disabled = !!assistantChosen(); }
