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

  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.isComposing) return;
    const target = event.target;
    const typing = target.matches("textarea, input[type=text], input:not([type]), select");
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      submit(target.form || judgeForm());
      return;
    }
    if (event.ctrlKey || event.metaKey) return;
    if (typing) {
      if (event.key === "Escape") target.blur();
      return; // Enter in the skip reason submits the skip form, as any form field does
    }
    if (document.getElementById("shortcuts").open && event.key !== "?") return;
    const key = event.key;
    let handled = true;
    if (/^[1-5]$/.test(key)) {
      handled = Boolean(check(`input[name=rating][value="${key}"]`));
    } else if (key in CHOICES) {
      handled = Boolean(check(`input[name=choice][value="${CHOICES[key]}"]`));
      startFromChosen();
    } else if (key === "Enter") {
      submit(judgeForm() || document.getElementById("start-form"));
    } else if (key === "s") {
      const skip = document.getElementById("skip");
      if (skip) {
        skip.open = true;
        skip.querySelector("input[name=reason]").focus();
      }
    } else if (key === "u") {
      document.getElementById("undo")?.click();
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
    startQueue();
  }
  document.addEventListener("htmx:afterSettle", onTaskShown);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", onLoad);
  else onLoad();
})();
