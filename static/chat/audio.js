// Audio: read a reply aloud (POST /api/audio/speech), with a player bar above the composer
// (Pause/Resume, Stop), and dictate into the prompt (MediaRecorder, then
// POST /api/audio/transcriptions).
import { $ } from "./state.js";
import { api, upload, errorText } from "./api.js";
import { notify } from "./notice.js";

let playing = null; // { audio, url }

function playerBar() {
  let bar = $("#player");
  if (!bar) {
    bar = document.createElement("div");
    bar.id = "player"; bar.hidden = true;
    bar.setAttribute("role", "group"); bar.setAttribute("aria-label", "Reading aloud");
    const label = document.createElement("span");
    label.className = "label";
    const pause = document.createElement("button");
    pause.type = "button"; pause.className = "small"; pause.id = "player-pause";
    pause.addEventListener("click", togglePause);
    const stop = document.createElement("button");
    stop.type = "button"; stop.className = "small"; stop.id = "player-stop"; stop.textContent = "Stop";
    stop.addEventListener("click", stopReading);
    bar.append(label, pause, stop);
    $("#composer").before(bar);
  }
  return bar;
}

function showPlayer(text) {
  const bar = playerBar();
  bar.hidden = !playing;
  if (!playing) return;
  if (text !== undefined) bar.querySelector(".label").textContent = `Reading aloud: ${text.replace(/\s+/g, " ").slice(0, 120)}`;
  const paused = playing.audio.paused;
  const pause = bar.querySelector("#player-pause");
  pause.textContent = paused ? "Resume" : "Pause";
  pause.setAttribute("aria-pressed", String(paused));
}

export function togglePause() {
  if (!playing) return;
  if (playing.audio.paused) playing.audio.play(); else playing.audio.pause();
  showPlayer();
}

export function stopReading() {
  if (!playing) return;
  const { audio, url } = playing;
  playing = null;
  audio.pause();
  URL.revokeObjectURL(url);
  showPlayer();
}

/** Read `text` aloud (one reading at a time; a new one stops the last). */
export async function readAloud(text, btn) {
  stopReading();
  if (btn) btn.disabled = true;
  try {
    const res = await api("/api/audio/speech", { method: "POST", body: JSON.stringify({ input: text.slice(0, 4096), response_format: "mp3" }) });
    if (!res.ok) { notify(await errorText(res), { kind: "error" }); return; }
    const url = URL.createObjectURL(await res.blob());
    const audio = new Audio(url);
    playing = { audio, url };
    audio.addEventListener("ended", () => { if (playing && playing.audio === audio) stopReading(); });
    audio.addEventListener("pause", () => showPlayer());
    audio.addEventListener("play", () => showPlayer());
    showPlayer(text);
    try { await audio.play(); } catch (err) { notify(`Could not play the audio: ${err.message}`, { kind: "error" }); stopReading(); }
  } finally { if (btn) btn.disabled = false; }
}

let recorder = null;
export async function toggleDictation() {
  const mic = $("#mic");
  if (recorder) { recorder.stop(); return; }
  let stream;
  try { stream = await navigator.mediaDevices.getUserMedia({ audio: true }); }
  catch (err) { notify("No microphone: " + err.message, { kind: "error" }); return; }
  const parts = [];
  recorder = new MediaRecorder(stream);
  recorder.ondataavailable = (e) => parts.push(e.data);
  recorder.onstop = async () => {
    stream.getTracks().forEach((t) => t.stop());
    recorder = null; mic.classList.remove("recording"); mic.setAttribute("aria-pressed", "false"); mic.disabled = true;
    try {
      const form = new FormData();
      form.append("file", new Blob(parts, { type: parts[0] ? parts[0].type : "audio/webm" }), "dictation.webm");
      const res = await upload("/api/audio/transcriptions", form);
      if (!res.ok) { notify(await errorText(res), { kind: "error" }); return; }
      const box = $("#prompt");
      box.value = (box.value ? box.value + " " : "") + (await res.json()).text;
      box.focus();
    } finally { mic.disabled = false; }
  };
  recorder.start();
  mic.classList.add("recording");
  mic.setAttribute("aria-pressed", "true");
}
