// The sidebar: the user's chats as links (newest first, "Load more" pages on), each with a
// "⋯" menu (rename in place, export Markdown/JSON, delete after an in-page confirm), the
// search box (search.js) and "Import chats". A plain click on a chat opens it in the page;
// a modifier-click opens it in a new tab, as links do.
import { $, state } from "./state.js";
import { api, upload, errorText } from "./api.js";
import { openSession } from "./conversation.js";
import { confirmDialog } from "./dialogs.js";
import { installSearch } from "./search.js";

const PAGE = 50;
let loaded = 0; // how many chats the list shows (a reload keeps as many)

const list = () => $("#sessions");
const itemOf = (id) => list()?.querySelector(`li[data-id="${CSS.escape(id)}"]`);

/** Open chat `id` in the page on a plain click (modifier-clicks and middle-clicks stay links). */
export function openOnPlainClick(e, id, extra) {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  openSession(id).then(() => extra && extra());
}

function item(s) {
  const li = document.createElement("li");
  li.dataset.id = s.id;
  const a = document.createElement("a");
  a.href = `/s/${s.id}`;
  a.className = "chat-link";
  a.textContent = s.title || "Untitled chat";
  if (s.updated_at) a.title = new Date(s.updated_at).toLocaleString();
  a.addEventListener("click", (e) => openOnPlainClick(e, s.id));
  const more = document.createElement("button");
  more.type = "button"; more.className = "chat-menu-button small"; more.textContent = "⋯";
  more.setAttribute("aria-haspopup", "menu");
  more.setAttribute("aria-expanded", "false");
  more.setAttribute("aria-label", `Actions for ${a.textContent}`);
  more.addEventListener("click", () => toggleMenu(li, more));
  li.append(a, more);
  if (s.id === state.sessionId) { li.classList.add("active"); a.setAttribute("aria-current", "page"); }
  return li;
}

async function fetchPage(offset, limit) {
  const res = await api(`/api/sessions?limit=${limit}&offset=${offset}`);
  return res.ok ? res.json() : null;
}

function showMore(hasMore) { const b = $("#sessions-more"); if (b) b.hidden = !hasMore; }

/** (Re)load the list, as many chats as it showed (at least a page). */
export async function loadSessions() {
  const page = await fetchPage(0, Math.min(200, Math.max(PAGE, loaded)));
  if (!page) return;
  list().replaceChildren(...page.results.map(item));
  loaded = page.results.length;
  showMore(page.count > loaded);
}

async function loadMore() {
  const page = await fetchPage(loaded, PAGE);
  if (!page) return;
  for (const s of page.results) if (!itemOf(s.id)) list().append(item(s));
  loaded += page.results.length;
  showMore(page.count > loaded);
}

export function markActive(id) {
  list()?.querySelectorAll("li").forEach((li) => {
    const on = li.dataset.id === id;
    li.classList.toggle("active", on);
    const a = li.querySelector("a.chat-link");
    if (on) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  });
}

export function showTitle(id, title) {
  const li = itemOf(id);
  if (!li) return;
  li.querySelector("a.chat-link").textContent = title || "Untitled chat";
  li.querySelector(".chat-menu-button").setAttribute("aria-label", `Actions for ${title || "Untitled chat"}`);
}

// A chat was just created on this page (or imported): list it at the top at once.
export function sessionCreated(session) {
  if (!list()) return;
  if (!itemOf(session.id)) { list().prepend(item(session)); loaded += 1; }
  markActive(state.sessionId);
}

// ---- The "⋯" menu ----
let openMenu = null; // {menu, button}

function closeMenu({ focus = true } = {}) {
  if (!openMenu) return;
  const { menu, button: b } = openMenu;
  openMenu = null;
  menu.remove();
  b.setAttribute("aria-expanded", "false");
  if (focus) b.focus();
}

function menuItem(label, onChoose, href) {
  const el = document.createElement(href ? "a" : "button");
  if (href) { el.href = href; el.setAttribute("download", ""); } else el.type = "button";
  el.setAttribute("role", "menuitem");
  el.tabIndex = -1;
  el.textContent = label;
  el.addEventListener("click", (e) => { if (!href) e.preventDefault(); closeMenu({ focus: !!href }); onChoose && onChoose(); });
  return el;
}

function toggleMenu(li, b) {
  const mine = openMenu && openMenu.button === b;
  closeMenu({ focus: false });
  if (mine) return;
  const id = li.dataset.id;
  const menu = document.createElement("div");
  menu.className = "chat-menu";
  menu.setAttribute("role", "menu");
  menu.setAttribute("aria-label", b.getAttribute("aria-label"));
  menu.append(
    menuItem("Rename", () => startRename(li)),
    menuItem("Export Markdown", null, `/api/sessions/${id}/export?format=markdown`),
    menuItem("Export JSON", null, `/api/sessions/${id}/export?format=json`),
    menuItem("Delete", () => deleteChat(li)),
  );
  menu.addEventListener("keydown", (e) => {
    const items = [...menu.querySelectorAll("[role=menuitem]")];
    const i = items.indexOf(document.activeElement);
    if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); closeMenu(); }
    else if (e.key === "ArrowDown") { e.preventDefault(); items[(i + 1) % items.length].focus(); }
    else if (e.key === "ArrowUp") { e.preventDefault(); items[(i - 1 + items.length) % items.length].focus(); }
    else if (e.key === "Tab") closeMenu({ focus: false });
  });
  li.append(menu);
  // Near the bottom of the scrolled list it opens upwards, so it is never cut by the list's edge.
  const nav = li.closest("#chats-nav");
  if (nav && menu.getBoundingClientRect().bottom > nav.getBoundingClientRect().bottom
      && li.getBoundingClientRect().top - nav.getBoundingClientRect().top > menu.offsetHeight) {
    menu.classList.add("up");
  }
  b.setAttribute("aria-expanded", "true");
  openMenu = { menu, button: b };
  menu.querySelector("[role=menuitem]").focus();
}

document.addEventListener("click", (e) => {
  if (openMenu && !openMenu.menu.contains(e.target) && e.target !== openMenu.button) closeMenu({ focus: false });
});

function startRename(li) {
  const a = li.querySelector("a.chat-link");
  const input = document.createElement("input");
  input.type = "text"; input.className = "rename-input"; input.maxLength = 200;
  input.value = a.textContent === "Untitled chat" ? "" : a.textContent;
  input.setAttribute("aria-label", "Chat title");
  a.hidden = true;
  li.prepend(input);
  input.focus(); input.select();
  let done = false;
  const finish = async (save) => {
    if (done) return;
    done = true;
    const title = input.value.trim();
    if (save && title && title !== a.textContent) {
      const res = await api(`/api/sessions/${li.dataset.id}`, { method: "PATCH", body: JSON.stringify({ title }) });
      if (res.ok) {
        showTitle(li.dataset.id, title);
        if (li.dataset.id === state.sessionId) $("#session-title").textContent = title;
      } else notice(`Renaming failed: ${await errorText(res)}`, true);
    }
    input.remove();
    a.hidden = false;
    a.focus();
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); finish(true); }
    else if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); finish(false); }
  });
  input.addEventListener("blur", () => finish(true));
}

async function deleteChat(li) {
  const title = li.querySelector("a.chat-link").textContent;
  if (!(await confirmDialog(`Delete "${title}"? This cannot be undone.`, { confirmLabel: "Delete", danger: true }))) return;
  const id = li.dataset.id;
  const res = await api(`/api/sessions/${id}`, { method: "DELETE" });
  if (!res.ok && res.status !== 404) { notice(`Deleting failed: ${await errorText(res)}`, true); return; }
  li.remove();
  loaded = Math.max(0, loaded - 1);
  if (id === state.sessionId) openSession(null);
  $("#new-session").focus();
}

// ---- Notices in the sidebar (role=status; errors role=alert) ----
export function notice(text, error = false) {
  const region = $("#sidebar-notice");
  region.replaceChildren();
  const p = document.createElement("p");
  p.className = error ? "error" : "";
  p.setAttribute("role", error ? "alert" : "status");
  p.textContent = text;
  region.append(p);
}

// ---- Import ----
async function importFile(file) {
  const form = new FormData();
  form.append("file", file);
  const res = await upload("/api/sessions/import", form);
  if (!res.ok) { notice(`Import failed: ${await errorText(res)}`, true); return; }
  const { sessions } = await res.json();
  for (const s of [...sessions].reverse()) sessionCreated(s);
  notice(`Imported ${sessions.length} chat${sessions.length === 1 ? "" : "s"}.`);
  if (sessions.length) await openSession(sessions[0].id);
}

export function installSidebar() {
  $("#sessions-more").addEventListener("click", loadMore);
  const input = $("#import-input");
  $("#import-chats").addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    const file = input.files[0];
    input.value = "";
    if (file) importFile(file);
  });
  installSearch();
}
