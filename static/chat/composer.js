// The composer: Enter sends (Shift+Enter a new line); while a reply streams the Send
// button is Stop, and Esc (anywhere, the composer included) stops it too.
import { $, state } from "./state.js";
import { send, cancel } from "./conversation.js";
import { installAttachments, uploading } from "./attachments.js";
import { notify } from "./notice.js";
import { NARROW } from "./layout.js";

export function installComposer() {
  $("#composer").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (state.streaming) { await cancel(); return; }
    if (state.sending) return;
    const box = $("#prompt");
    const content = box.value;
    if (!content.trim()) return;
    if (uploading()) { notify("A file is still uploading; send once its chip is ready."); return; }
    box.value = "";
    try { await send(content); } catch (err) { notify("Sending failed: " + err, { kind: "error" }); box.value = content; }
    finally { box.focus(); }
  });
  $("#prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); if (!state.streaming) $("#composer").requestSubmit(); }
  });
  installAttachments();
  shortHintWhenNarrow();
}

// A phone-width composer shows three short lines: the full hint (keys, drop and paste) would be cut.
function shortHintWhenNarrow() {
  const box = $("#prompt");
  const full = box.placeholder;
  const apply = () => { box.placeholder = NARROW.matches ? "Ask something…" : full; };
  NARROW.addEventListener("change", apply);
  apply();
}
