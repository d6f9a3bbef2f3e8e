// In-page notices instead of alert(): a short message in the #notices region (role=status,
// aria-live=polite) above the messages, with a Dismiss button; info notices fade after a
// while, errors stay until dismissed or replaced by the same text.
import { $ } from "./state.js";

/** Show `text` (`kind`: "info" | "error"; `timeout` ms, 0 = keep). Returns the element. */
export function notify(text, { kind = "info", timeout = kind === "error" ? 0 : 8000 } = {}) {
  const region = $("#notices");
  if (!region) return null;
  for (const old of region.querySelectorAll(".notice")) if (old.dataset.text === text) old.remove();
  const el = document.createElement("div");
  el.className = `notice ${kind}`;
  el.dataset.text = text;
  const span = document.createElement("span");
  span.textContent = text;
  const close = document.createElement("button");
  close.type = "button"; close.className = "small"; close.textContent = "Dismiss";
  close.setAttribute("aria-label", `Dismiss: ${text}`);
  close.addEventListener("click", () => el.remove());
  el.append(span, close);
  region.append(el);
  if (timeout) setTimeout(() => el.remove(), timeout);
  return el;
}

export function clearNotices() {
  const region = $("#notices");
  if (region) region.replaceChildren();
}
