// Compare: the models ticked in the Compare dropdown (2–8) all answer the next message,
// side by side (POST /api/sessions/{id}/compare).
import { $ } from "./state.js";

export function fillCompare(models) {
  const list = $("#compare-models");
  list.innerHTML = "";
  for (const m of models) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox"; box.value = m.id;
    label.append(box, ` ${m.name}`);
    list.append(label);
  }
}

export const compareSelection = () => [...document.querySelectorAll("#compare-models input:checked")].map((b) => b.value);
