// The lead's task page from the keyboard.
// Settling conflicts: with the focus in the final label's list (where the page puts it), a
// letter picks the verdict and Enter saves it and opens the next conflict.
// Browsing the data: j opens the next task of the view and k the previous one, unless the
// focus is in a field, where the letters are typed.
(function () {
  "use strict";

  document.addEventListener("keydown", (event) => {
    const list = event.target;
    if (event.key !== "Enter" || !list.matches || !list.matches("#final-label select")) return;
    const next = document.getElementById("save-and-next");
    if (!next || !list.value) return;
    event.preventDefault();
    list.form.requestSubmit(next);
  });

  const TYPING = "input, textarea, select, [contenteditable]:not([contenteditable='false'])";
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    if (event.key !== "j" && event.key !== "k") return;
    const target = event.target;
    if (target && target.closest && target.closest(TYPING)) return;
    const link = document.getElementById(event.key === "j" ? "next-task" : "previous-task");
    if (!link) return;
    event.preventDefault();
    link.click();
  });
})();
