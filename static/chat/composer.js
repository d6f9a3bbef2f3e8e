// The composer: Enter sends (Shift+Enter a new line); while a reply streams the Send
// button is Stop.
import { $, state } from "./state.js";
import { send, cancel } from "./conversation.js";
import { installAttachments, uploading } from "./attachments.js";

export function installComposer() {
  $("#composer").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (state.streaming) { await cancel(); return; }
    const box = $("#prompt");
    const content = box.value;
    if (!content.trim()) return;
    if (uploading()) { alert("A file is still uploading; send once its chip is ready."); return; }
    box.value = "";
    try { await send(content); } catch (err) { alert("Sending failed: " + err); box.value = content; }
    finally { box.focus(); }
  });
  $("#prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); if (!state.streaming) $("#composer").requestSubmit(); }
  });
  installAttachments();
}
