"""Reads of the lead's review: tasks whose judgments disagree, and one task's judgments."""

from typing import Any

from annotation.choices import task_choice
from annotation.judgment_rules import Pseudonyms
from annotation.models import Judgment, Project, Task


def conflicts(*, project: Project, include_adjudicated: bool = False) -> list[dict]:
    """Tasks whose judgments disagree: ratings two or more apart, or pairwise verdicts that
    differ (the winner, a tie or both bad)."""
    tasks = Task.objects.filter(project=project, judgment_count__gte=2)
    if not include_adjudicated:
        tasks = tasks.filter(adjudication__isnull=True)
    rows = []
    by_task: dict[int, list[Judgment]] = {}
    for judgment in Judgment.objects.filter(task__in=tasks).order_by("id"):
        by_task.setdefault(judgment.task_id, []).append(judgment)
    for task in tasks.select_related("prompt").order_by("id"):
        judged = by_task.get(task.pk, [])
        if task.kind == "rating":
            ratings = [j.rating for j in judged if j.rating is not None]
            disagree = bool(ratings) and max(ratings) - min(ratings) >= 2
            summary = ", ".join(str(r) for r in ratings)
        else:
            verdicts = [j.chosen_response_id or j.choice for j in judged]
            disagree = len(set(verdicts)) > 1
            summary = f"{len(set(verdicts))} different verdicts"
        if disagree:
            rows.append({"task": task, "judgments": judged, "summary": summary})
    return rows


def task_judgments(*, task: Task) -> dict[str, Any]:
    """A task as the lead reviews it: every judgment with its annotator's pseudonym and its
    choice in the task's terms, and the lead's adjudication if there is one."""
    pseudonyms = Pseudonyms(project_id=task.project_id)
    judgments = [
        {
            "judgment": j,
            "pseudonym": pseudonyms.name(j.annotator_id),
            "choice": task_choice(j.choice, j.swapped),
        }
        for j in task.judgments.select_related("annotator").order_by("id")
    ]
    return {"judgments": judgments, "adjudication": getattr(task, "adjudication", None)}
