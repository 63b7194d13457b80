"""The calibration section of the judge page: its filter (judge, prompt version, metadata
key) read from the page's query string, and the figures, the same the API serves. A bad
value is named beside its field and no figures are shown for it."""

from collections.abc import Mapping
from typing import Any

from annotation.models import Project
from evaluation.judging.calibration.selectors import judge_calibration
from evaluation.models import ModelEndpoint
from ftapp.errors import InvalidInput

FIELDS = ("judge", "prompt_version", "group_by")


def _id(raw: str, field: str, errors: dict[str, list[str]]) -> int | None:
    if not raw:
        return None
    if raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**31:
        return int(raw)
    errors[field] = ["A whole number from 1."]
    return None


def judge_calibration_page(*, project: Project, query: Mapping[str, Any]) -> dict[str, Any]:
    """The context of ``evaluation/judge/partials/calibration.html``: ``calibration`` (the
    figures, or None after a bad value), ``errors`` per field, the ``values`` asked for,
    and the judges (endpoints with verdicts here) and prompt versions to choose from."""
    values = {name: str(query.get(name) or "").strip() for name in FIELDS}
    errors: dict[str, list[str]] = {}
    endpoint_id = _id(values["judge"], "judge", errors)
    prompt_version = _id(values["prompt_version"], "prompt_version", errors)
    figures = None
    if not errors:
        try:
            figures = judge_calibration(
                project=project,
                endpoint_id=endpoint_id,
                prompt_version=prompt_version,
                group_by=values["group_by"] or None,
            )
        except InvalidInput as invalid:
            errors = {name: list(messages) for name, messages in invalid.fields.items()}
    for judge in figures["judges"] if figures else ():
        # Each annotator's row beside their own seat as an expert, for one table.
        seats = {seat["annotator"]: seat for seat in judge["ceiling"]["by_expert"]}
        judge["annotator_rows"] = [
            {**row, "seat": seats.get(row["annotator"])} for row in judge["annotators"]
        ]
    return {
        "project": project,
        "calibration": figures,
        "errors": errors,
        "values": values,
        "judges": list(
            ModelEndpoint.objects.filter(verdicts__project=project)
            .distinct()
            .order_by("name")
            .values("pk", "name")
        ),
        "versions": list(
            project.judge_prompts.order_by("-version").values_list("version", flat=True)
        ),
    }
