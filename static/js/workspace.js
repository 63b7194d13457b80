// Keyboard-first annotation. Keys act on the task in #workspace, which htmx replaces after
// each action, so every lookup happens at key time rather than once at load.
(function () {
  "use strict";

  const CHOICES = { a: "A", b: "B", t: "tie", n: "both_bad" };
  let guidelinesOpen = sessionStorage.getItem("ftapp.guidelines") === "open";

  const workspace = () => document.getElementById("workspace");
  const judgeForm = () => document.getElementById("judge-form");

  function check(selector) {
    const input = workspace() && workspace().querySelector(selector);
    if (input) {
      input.checked = true;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }
    return input;
  }

  function showGuidelines(open) {
    guidelinesOpen = open;
    sessionStorage.setItem("ftapp.guidelines", open ? "open" : "closed");
    const panel = document.getElementById("guidelines");
    if (panel) panel.hidden = !open;
  }

  function startFromChosen() {
    // Pairwise: an empty rewrite starts as a copy of the response chosen as better.
    const form = judgeForm();
    if (!form || form.dataset.kind !== "pairwise") return;
    const choice = form.querySelector("input[name=choice]:checked");
    const rewrite = form.querySelector("#rewrite");
    if (!choice || !rewrite || rewrite.value.trim() || !["A", "B"].includes(choice.value)) return;
    const raw = form.querySelector(`textarea.raw[data-position="${choice.value}"]`);
    if (raw) rewrite.value = raw.value;
  }

  function submit(form) {
    if (form) form.requestSubmit();
  }

  function toggleHelp() {
    const dialog = document.getElementById("shortcuts");
    if (dialog.open) dialog.close();
    else dialog.showModal();
  }

  // The user's setting (kept on the server, read from the page): off, no single key acts;
  // Tab, Enter on a control, Ctrl+Enter and Esc still do.
  function shortcutsOn() {
    return document.querySelector("[data-shortcuts]")?.dataset.shortcuts !== "off";
  }

  // After every swap the focus is on the task itself, never in a text box, so the next key
  // is a shortcut (htmx would otherwise put it back in the box with the same id).
  function focusTask() {
    const ws = workspace();
    if (!ws || ws.querySelector("[autofocus]")) return;
    ws.focus({ preventScroll: true });
    ws.scrollIntoView({ block: "nearest" });
  }

  // `u` asks first: a second `u` within a few seconds undoes.
  let undoArmedUntil = 0;
  let undoTimer = null;
  function undoKey() {
    const prompt = document.getElementById("undo-confirm");
    if (Date.now() < undoArmedUntil) {
      undoArmedUntil = 0;
      if (prompt) prompt.hidden = true;
      document.getElementById("undo")?.click();
      return;
    }
    undoArmedUntil = Date.now() + 4000;
    if (prompt) prompt.hidden = false;
    clearTimeout(undoTimer);
    undoTimer = setTimeout(() => {
      undoArmedUntil = 0;
      if (prompt) prompt.hidden = true;
    }, 4000);
  }

  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.isComposing) return;
    const target = event.target;
    const typing = target.matches(
      "textarea, input[type=text], input[type=search], input:not([type]), select"
    );
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      submit(target.form || judgeForm());
      return;
    }
    if (event.ctrlKey || event.metaKey) return;
    if (typing) {
      if (event.key === "Escape" && target.closest("#workspace")) {
        event.preventDefault();
        focusTask();
      } else if (event.key === "Escape") {
        target.blur();
      }
      return; // Enter in the skip reason submits the skip form, as any form field does
    }
    if (!shortcutsOn()) return;
    const help = document.getElementById("shortcuts");
    if (help.open && event.key === "Escape") {
      // Closed here, not by the browser's own Esc a moment later, so the next key (typed at
      // once) already reaches the task.
      event.preventDefault();
      help.close();
      return;
    }
    if (help.open && event.key !== "?") return;
    const key = event.key;
    let handled = true;
    if (key === "Enter" && target.matches("a, button, summary")) {
      return; // a focused control does what it says
    } else if (/^[1-5]$/.test(key)) {
      handled = Boolean(check(`input[name=rating][value="${key}"]`));
    } else if (key in CHOICES) {
      handled = Boolean(check(`input[name=choice][value="${CHOICES[key]}"]`));
      startFromChosen();
    } else if (key === "Enter") {
      submit(target.form || judgeForm() || document.getElementById("start-form"));
    } else if (key === "s") {
      const skip = document.getElementById("skip");
      if (skip) {
        skip.open = true;
        skip.querySelector("input[name=reason]").focus();
      }
    } else if (key === "u") {
      undoKey();
    } else if (key === "g") {
      showGuidelines(!guidelinesOpen);
    } else if (key === "c") {
      document.getElementById("comment")?.focus();
    } else if (key === "r") {
      const details = workspace()?.querySelector("details.rewrite");
      if (details) {
        details.open = true;
        startFromChosen();
        details.querySelector("textarea").focus();
      }
    } else if (key === "?") {
      toggleHelp();
    } else {
      handled = false;
    }
    if (handled) event.preventDefault();
  });

  document.addEventListener("click", (event) => {
    const action = event.target.closest("[data-action]")?.dataset.action;
    if (action === "guidelines") showGuidelines(!guidelinesOpen);
    if (action === "help") toggleHelp();
  });

  document.addEventListener("change", (event) => {
    if (event.target.name === "choice") startFromChosen();
  });

  // Time on task, reported with the judgment: from when this task was shown to submit.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    const started = Number(form.closest("#workspace")?.dataset.startedMs);
    const field = form.querySelector("input[name=duration_ms]");
    if (field && started) field.value = String(Math.max(0, Date.now() - started));
    // Out of the text box at once: what is typed while the next task loads is no comment.
    const active = document.activeElement;
    if (active && active !== form && active.closest("#workspace") && active.matches("textarea, input")) {
      focusTask();
    }
  }, true);
  // The page comes from a GET, which claims nothing: the first task is asked for by a POST,
  // sent at once when the page is really shown (not while a browser prerenders it).
  function startQueue() {
    const start = document.getElementById("start-form");
    if (!start) return;
    if (document.prerendering) {
      document.addEventListener("prerenderingchange", startQueue, { once: true });
    } else {
      submit(start);
    }
  }

  function onTaskShown() {
    const ws = workspace();
    if (!ws) return;
    ws.dataset.startedMs = String(Date.now());
    showGuidelines(guidelinesOpen);
  }
  function onLoad() {
    onTaskShown();
    focusTask();
    startQueue();
  }
  // Right after the swap (where htmx puts the focus back by id), not at settle: by then the
  // annotator may already be typing in a box they opened.
  document.addEventListener("htmx:afterSwap", focusTask);
  document.addEventListener("htmx:afterSettle", onTaskShown);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", onLoad);
  else onLoad();
})();
