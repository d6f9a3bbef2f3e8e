// An in-page confirmation (a modal <dialog>) instead of window.confirm(): resolves true when
// the user confirms, false on Cancel or Esc; focus returns to where it was.

/** Ask `question`; `confirmLabel` names the confirming button. Resolves to a boolean. */
export function confirmDialog(question, { confirmLabel = "OK", danger = false } = {}) {
  const back = document.activeElement;
  const dialog = document.createElement("dialog");
  dialog.className = "confirm-dialog";
  const text = document.createElement("p");
  text.id = `confirm-${Date.now()}`;
  text.textContent = question;
  dialog.setAttribute("aria-labelledby", text.id);
  const actions = document.createElement("div");
  actions.className = "dialog-actions";
  const cancel = document.createElement("button");
  cancel.type = "button"; cancel.textContent = "Cancel";
  const ok = document.createElement("button");
  ok.type = "button"; ok.textContent = confirmLabel; ok.className = danger ? "danger" : "primary";
  actions.append(cancel, ok);
  dialog.append(text, actions);
  document.body.append(dialog);
  return new Promise((resolve) => {
    let answer = false;
    cancel.addEventListener("click", () => dialog.close());
    ok.addEventListener("click", () => { answer = true; dialog.close(); });
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (back && back.isConnected) back.focus();
      resolve(answer);
    });
    dialog.showModal();
    cancel.focus();
  });
}
