// The guidelines panel an annotator sees before their next task when the current version is
// new to them: shown as a modal dialog over the task (focus on "I have read them"), Enter
// records the reading, `g` opens the whole guidelines, and no other key reaches the task
// until then. htmx replaces #workspace after each action, so the panel is looked up each time.
(function () {
  "use strict";

  const panel = () => document.getElementById("guidelines-due");
  let acknowledging = false;

  function showPanel() {
    const dialog = panel();
    if (!dialog) {
      if (acknowledging) {
        // The reading was recorded: the keys act on the task again, from the page itself.
        acknowledging = false;
        const ws = document.getElementById("workspace");
        if (ws && !ws.contains(document.activeElement)) {
          ws.tabIndex = -1;
          ws.focus({ preventScroll: true });
        }
      }
      return;
    }
    acknowledging = false;
    if (!dialog.matches(":modal")) {
      dialog.close();
      dialog.showModal();
    }
    document.getElementById("guidelines-ack")?.focus();
  }

  function acknowledge() {
    const form = document.getElementById("guidelines-ack-form");
    if (!form) return;
    acknowledging = true;
    form.requestSubmit();
  }

  function toggleFull() {
    const details = document.getElementById("guidelines-due-full");
    if (details) details.open = !details.open;
  }

  // Captured on the window, before the workspace's own keys: while the panel is open no key
  // picks a verdict or submits the task behind it.
  window.addEventListener("keydown", (event) => {
    const dialog = panel();
    if (!dialog || !dialog.open) return;
    if (event.key === "Tab" || event.key === "Shift" || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    event.stopPropagation();
    if (event.key === "Enter" && !event.target.matches("summary, [data-action]")) {
      event.preventDefault();
      acknowledge();
    } else if (event.key === "g") {
      event.preventDefault();
      toggleFull();
    } else if (event.key === "Escape") {
      event.preventDefault(); // read first: Esc does not dismiss it
    }
  }, true);

  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-action=guidelines-full]")) toggleFull();
  });
  document.addEventListener("submit", (event) => {
    if (event.target.id === "guidelines-ack-form") acknowledging = true;
  }, true);
  document.addEventListener("cancel", (event) => {
    if (event.target.id === "guidelines-due") event.preventDefault();
  }, true);

  document.addEventListener("htmx:afterSettle", showPanel);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", showPanel);
  else showPanel();
})();
