"""Judge labels in exports: whether a judge may fill in the tasks no human judged, decided once
when the export is created, from the judge's calibration against the human majority. The
figures used are stored in the export's options (``judge_calibration``), so the export stays a
snapshot: a retry builds with the same judge, prompt version and figures."""

from typing import Any

from annotation.models import Project
from evaluation.exports.options import JUDGE_MIN_TASKS
from evaluation.judging.calibration import judge_calibration
from evaluation.judging.selectors import judge_prompt_current
from evaluation.models import ModelEndpoint
from ftapp.errors import InvalidInput

# The figure the threshold applies to (see the help of ``judge_min_agreement``).
FIGURE = "kappa"


def _refuse(field: str, message: str) -> InvalidInput:
    return InvalidInput(
        "The judge may not label this export.", fields={f"filters.{field}": [message]}
    )


def _interval(found: dict) -> dict[str, float | None]:
    return {key: found[key] for key in ("value", "lower", "upper")}


def judge_labels_admit(*, project: Project, options: dict[str, Any]) -> dict[str, Any]:
    """The cleaned ``options`` with judge labels settled: off, unchanged; on, with the judge
    prompt version made explicit (the current one when none was named) and the calibration
    figures read now. Raises ``InvalidInput`` naming the field when the judge is unknown, has
    no verdicts here, was compared with the humans on fewer than ``JUDGE_MIN_TASKS`` tasks,
    or the lower 95% bound of its kappa with the human majority is not above
    ``judge_min_agreement``."""
    if not options["judge_fill"]:
        return options
    endpoint = ModelEndpoint.objects.filter(pk=options["judge"]).first()
    if endpoint is None:
        raise _refuse("judge", f"No model endpoint {options['judge']} is registered.")
    version = options["judge_prompt_version"]
    if version is None:
        current = judge_prompt_current(project=project)
        if current is None:
            raise _refuse("judge_prompt_version", "No judge prompt was published here yet.")
        version = current.version
    elif not project.judge_prompts.filter(version=version).exists():
        raise _refuse("judge_prompt_version", f"Version {version} was never published here.")
    figures = judge_calibration(project=project, endpoint_id=endpoint.pk, prompt_version=version)
    if not figures["judges"]:
        raise _refuse(
            "judge", f"{endpoint.name} has no verdicts here with judge prompt v{version}."
        )
    (judge,) = figures["judges"]
    majority = judge["majority"]
    kappa, threshold = majority["kappa"], options["judge_min_agreement"]
    if majority["tasks"] < JUDGE_MIN_TASKS or kappa["lower"] is None:
        raise _refuse(
            "judge_min_agreement",
            f"{endpoint.name} (prompt v{version}) was compared with the humans on "
            f"{majority['tasks']} tasks; at least {JUDGE_MIN_TASKS} are needed to trust its "
            "agreement. Run the judge on tasks humans judged first.",
        )
    if kappa["lower"] <= threshold:
        raise _refuse(
            "judge_min_agreement",
            f"The lower 95% bound of {endpoint.name}'s kappa with the human majority "
            f"(prompt v{version}, {majority['tasks']} tasks) is {kappa['lower']:.3f}, not "
            f"above {threshold:g}: its labels are not trusted enough for this export.",
        )
    position = judge["position"]
    return {
        **options,
        "judge_prompt_version": version,
        "judge_calibration": {
            "judge": {"id": endpoint.pk, "name": endpoint.name},
            "prompt_version": version,
            "figures": {
                "figure": FIGURE,
                "kappa_weights": figures["kappa_weights"],
                "tasks": majority["tasks"],
                "agreement": _interval(majority["share"]),
                "kappa": _interval(kappa),
                "alpha": _interval(majority["alpha"]),
                "position_consistency": None
                if position is None
                else {
                    key: position["consistency"][key]
                    for key in ("share", "lower", "upper", "count", "n")
                },
                "flags": judge["flags"],
            },
        },
    }
