// The sidebar: the user's sessions, newest first; a click opens one.
import { $, state } from "./state.js";
import { api } from "./api.js";
import { openSession } from "./conversation.js";

export async function loadSessions() {
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

export function markActive(id) {
  document.querySelectorAll("#sessions li").forEach((li) => li.classList.toggle("active", li.dataset.id === id));
}

export function showTitle(id, title) {
  const li = document.querySelector(`#sessions li[data-id="${id}"]`);
  if (li) li.textContent = title || "Untitled chat";
}

// A chat was just created on this page: list it at once (before its first reply ends).
export function sessionCreated(session) {
  const list = $("#sessions");
  if (!list || list.querySelector(`li[data-id="${session.id}"]`)) { markActive(session.id); return; }
  const li = document.createElement("li");
  li.textContent = session.title || "Untitled chat";
  li.dataset.id = session.id;
  li.addEventListener("click", () => openSession(session.id));
  list.prepend(li);
  markActive(session.id);
}
