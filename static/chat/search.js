// Searching the user's chats (GET /api/search, debounced): while the box holds a query the
// results replace the chat list — title and snippet with the query's words marked (built
// as text nodes and <mark>, never HTML from the server); a result opens its chat and, for a
// message hit, scrolls to that message and highlights it briefly. Esc clears the box.
import { $ } from "./state.js";
import { api, errorText } from "./api.js";
import { openOnPlainClick } from "./sidebar.js";

const LIMIT = 20;
let timer = 0;
let query = "";
let offset = 0;
let ticket = 0; // the newest request; older answers are dropped

const words = (q) => q.toLowerCase().split(/\s+/).filter(Boolean);

/** Append `text` to `el` with every occurrence of the query's words in a <mark>. */
export function highlightInto(el, text, q) {
  const ws = words(q).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  if (!ws.length) { el.append(text); return; }
  const re = new RegExp(`(${ws.join("|")})`, "gi");
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > last) el.append(text.slice(last, m.index));
    const mark = document.createElement("mark");
    mark.textContent = m[0];
    el.append(mark);
    last = m.index + m[0].length;
  }
  if (last < text.length) el.append(text.slice(last));
}

function flash(messageId) {
  const el = document.querySelector(`.msg[data-id="${CSS.escape(messageId)}"]`);
  if (!el) return;
  el.scrollIntoView({ block: "center" });
  el.classList.add("search-hit");
  setTimeout(() => el.classList.remove("search-hit"), 2500);
}

function hitItem(hit, q) {
  const li = document.createElement("li");
  const a = document.createElement("a");
  a.href = `/s/${hit.session}`;
  a.className = "search-hit-link";
  const title = document.createElement("span");
  title.className = "hit-title";
  highlightInto(title, hit.title || "Untitled chat", q);
  a.append(title);
  if (hit.snippet) {
    const snip = document.createElement("span");
    snip.className = "hit-snippet";
    highlightInto(snip, hit.snippet, q);
    a.append(snip);
  }
  a.addEventListener("click", (e) => openOnPlainClick(e, hit.session, hit.message ? () => flash(hit.message) : null));
  li.append(a);
  return li;
}

function showing(on) {
  $("#search-results").hidden = !on;
  $("#chats-nav").hidden = on;
}

async function run(more = false) {
  const q = query;
  if (!more) offset = 0;
  const mine = ++ticket;
  const res = await api(`/api/search?q=${encodeURIComponent(q)}&limit=${LIMIT}&offset=${offset}`);
  if (mine !== ticket || q !== query) return;
  const box = $("#search-list");
  const status = $("#search-status");
  if (!res.ok) { status.textContent = await errorText(res); box.replaceChildren(); return; }
  const page = await res.json();
  if (!more) box.replaceChildren();
  box.append(...page.results.map((h) => hitItem(h, q)));
  offset += page.results.length;
  status.textContent = page.count ? `${page.count} match${page.count === 1 ? "" : "es"}` : "No matches";
  $("#search-more").hidden = !page.next;
}

function changed() {
  clearTimeout(timer);
  query = $("#search").value.trim();
  if (!query) { ticket++; showing(false); return; }
  showing(true);
  timer = setTimeout(() => run(false), 250);
}

export function installSearch() {
  const input = $("#search");
  input.addEventListener("input", changed);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && input.value) { e.preventDefault(); e.stopPropagation(); input.value = ""; changed(); }
  });
  $("#search-more").addEventListener("click", () => run(true));
}
