// The export form shows the options of the chosen kind only: the other kinds' groups are
// hidden and their inputs disabled, so they are not sent. Without this script every group is
// shown and the server reads only the chosen kind's options.
(function () {
  "use strict";

  const form = document.getElementById("export-form");
  const kind = form && form.querySelector("#kind");
  if (!kind) return;

  function show() {
    for (const group of form.querySelectorAll("fieldset[data-export-kinds]")) {
      const mine = group.dataset.exportKinds.split(" ").includes(kind.value);
      group.hidden = !mine;
      group.disabled = !mine;
    }
    // A format the kind is not written in (OpenAI has no KTO) can't be chosen with it.
    const format = form.querySelector("#format");
    for (const option of format ? format.options : []) {
      option.disabled = !option.dataset.exportKinds.split(" ").includes(kind.value);
    }
    if (format && format.selectedOptions[0] && format.selectedOptions[0].disabled) {
      const allowed = [...format.options].find((option) => !option.disabled);
      if (allowed) format.value = allowed.value;
    }
    for (const row of form.querySelectorAll("#rows-expected tr[data-export-kind]")) {
      row.classList.toggle("current", row.dataset.exportKind === kind.value);
    }
  }

  kind.addEventListener("change", show);
  show();
})();
