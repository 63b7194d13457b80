"""What calibration reads: the judges' newest verdicts, the counted human judgments and the
adjudications (by the leaderboard's own loader and rules), and the tasks' models, lengths and
metadata group, as the arrays of ``figures``. Gold tasks are left out on both sides, as in
every figure about the models."""

from collections import defaultdict
from typing import Any

import numpy as np
from django.db.models.fields.json import KeyTextTransform

from annotation.choices import task_choice
from annotation.models import Project, ProjectKind, Task
from evaluation.judging.calibration.figures import HumanLabels, JudgeLabels, TaskFacts
from evaluation.judging.selectors import judge_verdicts_latest
from evaluation.leaderboard.loading import TextLength, judgments_load
from evaluation.models import ModelEndpoint
from ftapp.errors import InvalidInput
from ftapp.json_input import contains_nul

GROUP_BY_MAX = 100


def calibration_query_check(
    *, project: Project, endpoint_id: int | None, prompt_version: int | None, group_by: str | None
) -> str | None:
    """Checks what the API and the page were asked, naming the bad field: a judge that is a
    registered endpoint, a judge prompt version published in this project, a metadata key
    (stripped; blank means none). Returns the key."""
    errors: dict[str, list[str]] = {}
    if endpoint_id is not None and not ModelEndpoint.objects.filter(pk=endpoint_id).exists():
        errors["judge"] = [f"No model endpoint {endpoint_id} is registered."]
    if (
        prompt_version is not None
        and not project.judge_prompts.filter(version=prompt_version).exists()
    ):
        errors["prompt_version"] = [f"Version {prompt_version} was never published here."]
    key = (group_by or "").strip() or None
    if key is not None and (len(key) > GROUP_BY_MAX or contains_nul(key)):
        errors["group_by"] = [f"A metadata key of at most {GROUP_BY_MAX} characters."]
    if errors:
        raise InvalidInput("Invalid calibration query.", fields=errors)
    return key


def _screen(order_choices: list, order: int) -> str:
    """The judge's answer in the order asked (order 1 showed response_b first) in screen
    terms: A is the response shown first."""
    if len(order_choices) <= order or not order_choices[order]:
        return ""
    return task_choice(order_choices[order], bool(order)) or ""


def judges_load(
    *, project: Project, endpoint_id: int | None, prompt_version: int | None
) -> list[JudgeLabels]:
    """Each judge's (endpoint and prompt version) newest verdicts of the project's tasks,
    judges by name, newest prompt version first."""
    pairwise = project.kind == ProjectKind.PAIRWISE
    rows = (
        judge_verdicts_latest(
            project=project, endpoint_id=endpoint_id, prompt_version=prompt_version
        )
        .filter(kind=project.kind, task__is_gold=False)
        .order_by("task_id")
        .values_list(
            "endpoint_id",
            "judge_prompt__version",
            "task_id",
            "choice" if pairwise else "rating",
            "order_choices",
            "consistent",
        )
    )
    grouped: defaultdict[tuple[int, int], list[tuple]] = defaultdict(list)
    for endpoint, version, *rest in rows:
        grouped[endpoint, version].append(tuple(rest))
    names = dict(
        ModelEndpoint.objects.filter(pk__in={e for e, _ in grouped}).values_list("pk", "name")
    )
    judges = []
    for (endpoint, version), found in sorted(
        grouped.items(), key=lambda item: (names[item[0][0]], -item[0][1])
    ):
        task, label, orders, consistent = zip(*found, strict=True)
        judges.append(
            JudgeLabels(
                endpoint_id=endpoint,
                endpoint_name=names[endpoint],
                prompt_version=version,
                task=np.array(task, dtype=np.int64),
                label=np.array(label, dtype="<U8" if pairwise else np.int64),
                first=np.array([_screen(o, 0) for o in orders], dtype="<U8"),
                second=np.array([_screen(o, 1) for o in orders], dtype="<U8"),
                consistent=np.array([bool(c) for c in consistent], dtype=bool),
            )
        )
    return judges


def humans_load(*, project: Project) -> HumanLabels:
    """The counted judgments and adjudications, by the leaderboard's loader: which count,
    their choice in the task's terms, annotators by their project pseudonym."""
    data = judgments_load(project=project)
    rating = project.kind == ProjectKind.RATING
    users = np.unique(data.annotator)
    names = np.array([data.pseudonyms.name(uid) for uid in users.tolist()], dtype=object)
    return HumanLabels(
        task=data.task,
        annotator=names[np.searchsorted(users, data.annotator)] if len(users) else names,
        label=data.rating if rating else data.choice,
        screen_choice=data.screen_choice,
        adjudicated_task=data.adjudicated_task,
        adjudicated_label=data.adjudicated_rating if rating else data.adjudicated_choice,
    )


def tasks_load(*, project: Project, group_by: str | None) -> TaskFacts:
    """Per non-gold task of the project's kind: models, lengths (pairwise) and the prompt's
    value of ``group_by`` as text."""
    pairwise = project.kind == ProjectKind.PAIRWISE
    fields: list[Any] = ["id", "response_a__model_name"]
    if pairwise:
        fields += [
            "response_b__model_name",
            TextLength("response_a__text"),
            TextLength("response_b__text"),
        ]
    if group_by:
        fields.append(KeyTextTransform(group_by, "prompt__metadata"))
    rows = (
        Task.objects.filter(project=project, kind=project.kind, is_gold=False)
        .order_by("id")
        .values_list(*fields)
    )
    columns = [list(column) for column in zip(*rows, strict=True)] or [[] for _ in fields]
    n = len(columns[0])
    blank, zeros, nothing = [""] * n, [0] * n, [None] * n
    return TaskFacts(
        task=np.array(columns[0], dtype=np.int64),
        model_a=np.array(columns[1], dtype=object),
        model_b=np.array(columns[2] if pairwise else blank, dtype=object),
        length_a=np.array(columns[3] if pairwise else zeros, dtype=np.int64),
        length_b=np.array(columns[4] if pairwise else zeros, dtype=np.int64),
        group=np.array(columns[-1] if group_by else nothing, dtype=object),
    )
