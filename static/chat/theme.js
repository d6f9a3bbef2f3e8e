// The colour theme: System (the default: follows the OS through `color-scheme: light dark`),
// Light or Dark, kept in localStorage ("theme"). A classic script loaded in <head>, before
// the stylesheet applies to the body: it sets <html data-theme="light|dark"> (app.css turns
// it into `color-scheme`), so a stored choice shows from the first paint, with no inline
// script for the CSP to refuse. It also wires every <select data-theme-picker> on the page.
(() => {
  const KEY = "theme";
  const CHOICES = ["system", "light", "dark"];
  const root = document.documentElement;

  function stored() {
    try { const v = localStorage.getItem(KEY); return CHOICES.includes(v) ? v : "system"; } catch { return "system"; }
  }
  function apply(choice) {
    if (choice === "light" || choice === "dark") root.dataset.theme = choice;
    else delete root.dataset.theme;
  }
  function choose(choice) {
    try { if (choice === "system") localStorage.removeItem(KEY); else localStorage.setItem(KEY, choice); } catch { /* private mode: this page only */ }
    apply(choice);
    for (const picker of document.querySelectorAll("select[data-theme-picker]")) picker.value = choice;
  }

  apply(stored());
  // Another tab changed it.
  window.addEventListener("storage", (e) => { if (e.key === KEY || e.key === null) choose(stored()); });
  document.addEventListener("DOMContentLoaded", () => {
    for (const picker of document.querySelectorAll("select[data-theme-picker]")) {
      picker.value = stored();
      picker.addEventListener("change", () => choose(picker.value));
    }
  });
})();
