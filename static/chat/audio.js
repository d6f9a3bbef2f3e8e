// Audio: read a reply aloud (POST /api/audio/speech) and dictate into the prompt
// (MediaRecorder, then POST /api/audio/transcriptions).
import { $ } from "./state.js";
import { api, upload, errorText } from "./api.js";

let playing = null;
export async function readAloud(text, btn) {
  if (playing) { playing.pause(); playing = null; }
  btn.disabled = true;
  try {
    const res = await api("/api/audio/speech", { method: "POST", body: JSON.stringify({ input: text.slice(0, 4096), response_format: "mp3" }) });
    if (!res.ok) { alert(await errorText(res)); return; }
    playing = new Audio(URL.createObjectURL(await res.blob()));
    await playing.play();
  } finally { btn.disabled = false; }
}

let recorder = null;
export async function toggleDictation() {
  const mic = $("#mic");
  if (recorder) { recorder.stop(); return; }
  let stream;
  try { stream = await navigator.mediaDevices.getUserMedia({ audio: true }); }
  catch (err) { alert("No microphone: " + err.message); return; }
  const parts = [];
  recorder = new MediaRecorder(stream);
  recorder.ondataavailable = (e) => parts.push(e.data);
  recorder.onstop = async () => {
    stream.getTracks().forEach((t) => t.stop());
    recorder = null; mic.classList.remove("recording"); mic.disabled = true;
    try {
      const form = new FormData();
      form.append("file", new Blob(parts, { type: parts[0] ? parts[0].type : "audio/webm" }), "dictation.webm");
      const res = await upload("/api/audio/transcriptions", form);
      if (!res.ok) { alert(await errorText(res)); return; }
      const box = $("#prompt");
      box.value = (box.value ? box.value + " " : "") + (await res.json()).text;
      box.focus();
    } finally { mic.disabled = false; }
  };
  recorder.start();
  mic.classList.add("recording");
}
