// Settling conflicts from the keyboard: with the focus in the final label's list (where the
// page puts it), a letter picks the verdict and Enter saves it and opens the next conflict.
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
})();
