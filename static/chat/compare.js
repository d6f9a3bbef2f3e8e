// Compare: the models ticked in the Compare dropdown (2–8) all answer the next message,
// side by side (POST /api/sessions/{id}/compare). While models are ticked a "Comparing N
// models" badge shows beside the dropdown, open or closed, with a button that clears them;
// at most 8 can be ticked (the rest are disabled meanwhile).
import { $ } from "./state.js";

const MAX = 8;

export function fillCompare(models) {
  const list = $("#compare-models");
  list.innerHTML = "";
  for (const m of models) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox"; box.value = m.id;
    const name = document.createElement("span");
    name.textContent = ` ${m.name}`;
    label.append(box, name);
    list.append(label);
  }
  list.onchange = updateCompare;
  updateCompare();
}

const boxes = () => [...document.querySelectorAll("#compare-models input")];
export const compareSelection = () => boxes().filter((b) => b.checked).map((b) => b.value);

export function clearCompare() {
  for (const b of boxes()) b.checked = false;
  updateCompare();
}

function badge() {
  let el = $("#compare-badge");
  if (!el) {
    el = document.createElement("span");
    el.id = "compare-badge";
    el.hidden = true;
    const text = document.createElement("span");
    text.className = "text";
    const clear = document.createElement("button");
    clear.type = "button"; clear.textContent = "×"; clear.setAttribute("aria-label", "Stop comparing (clear the ticked models)");
    clear.addEventListener("click", () => { clearCompare(); $("#compare summary").focus(); });
    el.append(text, clear);
    $("#compare").after(el);
  }
  return el;
}

/** Show how many models are ticked (the badge), and disable ticks past the maximum. */
export function updateCompare() {
  const n = compareSelection().length;
  for (const b of boxes()) b.disabled = !b.checked && n >= MAX;
  const el = badge();
  el.hidden = n === 0;
  el.classList.toggle("incomplete", n === 1);
  el.querySelector(".text").textContent = n === 1 ? "Comparing: tick one more" : `Comparing ${n} models`;
}

export function installCompare() {
  const details = $("#compare");
  // Esc or a click elsewhere closes the dropdown (the badge keeps the choice in view).
  details.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && details.open) { e.preventDefault(); e.stopPropagation(); details.open = false; details.querySelector("summary").focus(); }
  });
  document.addEventListener("click", (e) => { if (details.open && !details.contains(e.target)) details.open = false; });
}
