"""The calibration selector: reads through ``loading``, computes through ``figures``."""

from annotation.models import Project
from evaluation.judging.calibration.figures import calibration_figures
from evaluation.judging.calibration.loading import (
    calibration_query_check,
    humans_load,
    judges_load,
    tasks_load,
)


def judge_calibration(
    *,
    project: Project,
    endpoint_id: int | None = None,
    prompt_version: int | None = None,
    group_by: str | None = None,
) -> dict:
    """Every judge's calibration in the project (or the one ``endpoint_id`` names, and the
    one ``prompt_version``), broken down by the prompts' ``group_by`` metadata key when asked.
    Raises ``InvalidInput`` naming a bad field."""
    key = calibration_query_check(
        project=project, endpoint_id=endpoint_id, prompt_version=prompt_version, group_by=group_by
    )
    figures = calibration_figures(
        kind=project.kind,
        judges=judges_load(project=project, endpoint_id=endpoint_id, prompt_version=prompt_version),
        humans=humans_load(project=project),
        tasks=tasks_load(project=project, group_by=key),
        group_by=key,
    )
    return {
        "project": project.pk,
        "judge": endpoint_id,
        "prompt_version": prompt_version,
        **figures,
    }
