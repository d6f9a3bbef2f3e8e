// Attachments: files dropped on the chat, pasted into the prompt or picked with 📎 go to
// POST /api/files at once; each shows as a chip above the prompt (an image with its
// preview) until the message that carries them is sent. A refused file keeps its chip,
// with the reason.
import { $ } from "./state.js";
import { upload as post, errorText } from "./api.js";

export const pending = []; // { file, url (a local preview), id and meta once stored, error }
const fileSize = (n) => (n < 1024 ? `${n} B` : n < 1048576 ? `${Math.round(n / 1024)} KB` : `${(n / 1048576).toFixed(1)} MB`);

function chipElement({ name, image, note, href, cls, onRemove }) {
  const li = document.createElement("li");
  li.className = `chip ${cls || ""}`;
  if (image) {
    const img = document.createElement("img");
    img.src = image; img.alt = ""; img.loading = "lazy";
    li.append(img);
  } else {
    const icon = document.createElement("span");
    icon.className = "doc-icon"; icon.textContent = "📄"; icon.setAttribute("aria-hidden", "true");
    li.append(icon);
  }
  const label = document.createElement(href ? "a" : "span");
  label.className = "name"; label.textContent = name; label.title = name;
  if (href) { label.href = href; label.target = "_blank"; label.rel = "noopener"; }
  li.append(label);
  if (note) {
    const small = document.createElement("span");
    small.className = "note"; small.textContent = note;
    li.append(small);
  }
  if (onRemove) {
    const remove = document.createElement("button");
    remove.type = "button"; remove.className = "remove"; remove.textContent = "×";
    remove.setAttribute("aria-label", `Remove ${name}`);
    remove.addEventListener("click", onRemove);
    li.append(remove);
  }
  return li;
}

// A stored message's attachments (REST `attachments`), shown above its text.
export function attachmentList(files) {
  const list = document.createElement("ul");
  list.className = "chips";
  list.setAttribute("aria-label", "Attachments");
  for (const f of files) {
    const href = `/api/files/${f.id}/content`;
    const note = f.truncated ? "cut to fit the model" : fileSize(f.size);
    list.append(chipElement({ name: f.name, image: f.kind === "image" ? href : null, note, href }));
  }
  return list;
}

export function renderPending() {
  const list = $("#attachments");
  list.replaceChildren(...pending.map((p) => chipElement({
    name: p.file.name || "pasted image", image: p.url,
    note: p.error || (p.id ? fileSize(p.meta.size) + (p.meta.text_chars != null ? ` · ${p.meta.text_chars.toLocaleString()} chars` : "") : "uploading…"),
    cls: p.error ? "failed" : p.id ? "ready" : "uploading",
    onRemove: () => { pending.splice(pending.indexOf(p), 1); if (p.url) URL.revokeObjectURL(p.url); renderPending(); },
  })));
  list.hidden = pending.length === 0;
}

async function upload(item) {
  const form = new FormData();
  form.append("file", item.file, item.file.name || "pasted.png");
  try {
    const res = await post("/api/files", form);
    if (res.ok) { item.meta = await res.json(); item.id = item.meta.id; } else item.error = await errorText(res);
  } catch (err) { item.error = String(err); }
  renderPending();
}

export function attach(files) {
  const items = [...files].map((file) => ({ file, url: file.type.startsWith("image/") ? URL.createObjectURL(file) : null }));
  pending.push(...items);
  renderPending();
  return Promise.all(items.map(upload));
}

// The files ready to go with the next message, and a function that takes them off the
// composer once the server accepted the message.
export function takeReady() {
  const files = pending.filter((p) => p.id);
  const taken = () => {
    for (const p of files) { pending.splice(pending.indexOf(p), 1); if (p.url) URL.revokeObjectURL(p.url); }
    renderPending();
  };
  return { ids: files.map((p) => p.id), meta: files.map((p) => p.meta), taken };
}

export const uploading = () => pending.some((p) => !p.id && !p.error);

// Drag and drop on the chat column, paste into the prompt, the 📎 picker.
export function installAttachments() {
  $("#attach").addEventListener("click", () => $("#attach-input").click());
  $("#attach-input").addEventListener("change", (e) => { attach(e.target.files); e.target.value = ""; });
  $("#prompt").addEventListener("paste", (e) => {
    const files = [...(e.clipboardData ? e.clipboardData.files : [])];
    if (files.length) { e.preventDefault(); attach(files); }
  });
  const chat = $("#chat");
  let dragDepth = 0;
  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes("Files");
  chat.addEventListener("dragenter", (e) => { if (hasFiles(e)) { dragDepth++; chat.classList.add("dropping"); } });
  chat.addEventListener("dragleave", () => { if (dragDepth && !--dragDepth) chat.classList.remove("dropping"); });
  chat.addEventListener("dragover", (e) => { if (hasFiles(e)) e.preventDefault(); });
  chat.addEventListener("drop", (e) => {
    dragDepth = 0; chat.classList.remove("dropping");
    if (e.dataTransfer && e.dataTransfer.files.length) { e.preventDefault(); attach(e.dataTransfer.files); }
  });
}
