// The data browser: "select all on this page" ticks or clears every task's box on the page,
// and reflects a partial selection as mixed.
(function () {
  "use strict";

  const all = document.getElementById("select-page");
  if (!all) return;
  const boxes = () => Array.from(document.querySelectorAll("input.select-task"));

  all.addEventListener("change", () => {
    boxes().forEach((box) => { box.checked = all.checked; });
  });
  document.addEventListener("change", (event) => {
    if (!event.target.matches || !event.target.matches("input.select-task")) return;
    const ticked = boxes().filter((box) => box.checked).length;
    all.checked = ticked === boxes().length;
    all.indeterminate = ticked > 0 && ticked < boxes().length;
  });
})();
