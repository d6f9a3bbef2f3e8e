// The page's layout behaviour: the sidebar as an off-canvas drawer on narrow screens
// (toggle button with aria-expanded, Esc and the backdrop close it, focus moves into it
// and back), and "stick to the bottom" of the message list while a reply streams unless
// the user scrolled up (then a "Jump to latest" button).
import { $ } from "./state.js";

export const NARROW = window.matchMedia("(max-width: 760px)");
const app = () => $("#app");

export const drawerOpen = () => app().classList.contains("drawer-open");

export function openDrawer() {
  if (!NARROW.matches) return;
  app().classList.add("drawer-open");
  $("#drawer-toggle").setAttribute("aria-expanded", "true");
  $("#drawer-backdrop").hidden = false;
  const sidebar = $("#sidebar");
  sidebar.setAttribute("aria-modal", "true");
  sidebar.setAttribute("role", "dialog");
  // (visibility switches in the same frame as the class: focus once it is focusable)
  requestAnimationFrame(() => {
    const first = sidebar.querySelector(".active a, .active, a[href], button:not([disabled]), input, [tabindex='0']");
    (first || sidebar).focus();
  });
}

export function closeDrawer({ restoreFocus = true } = {}) {
  if (!drawerOpen()) return;
  app().classList.remove("drawer-open");
  $("#drawer-toggle").setAttribute("aria-expanded", "false");
  $("#drawer-backdrop").hidden = true;
  const sidebar = $("#sidebar");
  sidebar.removeAttribute("aria-modal");
  sidebar.removeAttribute("role");
  if (restoreFocus && sidebar.contains(document.activeElement)) $("#drawer-toggle").focus();
}

export function installDrawer() {
  $("#drawer-toggle").addEventListener("click", () => (drawerOpen() ? closeDrawer() : openDrawer()));
  $("#drawer-backdrop").addEventListener("click", () => closeDrawer());
  const sidebar = $("#sidebar");
  sidebar.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && drawerOpen()) { e.preventDefault(); e.stopPropagation(); closeDrawer(); return; }
    if (e.key !== "Tab" || !drawerOpen()) return;
    // Keep Tab inside the open drawer (it is modal on a phone).
    const items = [...sidebar.querySelectorAll("a[href], button:not([disabled]), input:not([disabled]), select, textarea, [tabindex='0']")]
      .filter((el) => el.offsetParent !== null);
    if (!items.length) return;
    const [first, last] = [items[0], items[items.length - 1]];
    if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
    else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
  });
  // Choosing a chat (a link or an item of the list) closes the drawer.
  sidebar.addEventListener("click", (e) => {
    if (drawerOpen() && e.target.closest("#sessions a.chat-link, #search-list a, #new-session")) closeDrawer({ restoreFocus: false });
  });
  NARROW.addEventListener("change", () => { if (!NARROW.matches) closeDrawer({ restoreFocus: false }); });
}

// ---- Sticking to the bottom of the message list ----
let stick = true;
const SLACK = 48; // px from the bottom that still counts as "at the bottom"

const atBottom = (box) => box.scrollHeight - box.scrollTop - box.clientHeight <= SLACK;

/** Whether new text should scroll the list (the user has not scrolled up). */
export const sticking = () => stick;

/** After content changed: follow it to the bottom if the user was there. */
export function keepAtBottom() {
  const box = $("#messages");
  if (stick) box.scrollTop = box.scrollHeight;
  jumpButton().hidden = stick || atBottom(box);
}

/** Scroll to the newest message and stick there again (opening a chat, sending). */
export function toBottom() {
  const box = $("#messages");
  stick = true;
  box.scrollTop = box.scrollHeight;
  jumpButton().hidden = true;
}

function jumpButton() {
  let b = $("#jump-latest");
  if (!b) {
    b = document.createElement("button");
    b.type = "button"; b.id = "jump-latest"; b.className = "small jump-latest"; b.textContent = "Jump to latest";
    b.hidden = true;
    b.addEventListener("click", () => toBottom());
    $("#conversation").insertBefore(b, $("#reply-live"));
  }
  return b;
}

export function installScroll() {
  const box = $("#messages");
  let lastTop = box.scrollTop;
  box.addEventListener("scroll", () => {
    // Only the user scrolls up; our own scrolling goes down (or stays).
    if (box.scrollTop < lastTop - 2 && !atBottom(box)) stick = false;
    else if (atBottom(box)) stick = true;
    lastTop = box.scrollTop;
    jumpButton().hidden = stick;
  }, { passive: true });
  // A wheel or touch move up is a user gesture even when the list barely moves.
  box.addEventListener("wheel", (e) => { if (e.deltaY < 0) stick = false; }, { passive: true });
}
