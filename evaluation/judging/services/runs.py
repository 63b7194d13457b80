"""Starting a judge run: a generation run (``purpose="judge"``) with one item per task and
order asked, executed, cancelled, resumed and recovered as any generation run is."""

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.http import QueryDict

from annotation.models import Judgment, Project, ProjectKind, Task
from annotation.selectors import project_get_for_lead
from annotation.selectors.browse import task_filter_from_query, tasks_matching
from evaluation.generation.services.endpoints import model_endpoints_probe, params_check
from evaluation.generation.services.runs import generation_run_dispatch, generation_run_endpoints
from evaluation.judging.models import JudgePrompt
from evaluation.judging.protocol import judge_prompt_default
from evaluation.judging.selectors import judge_prompt_current, judge_prompt_get
from evaluation.judging.services.prompts import judge_prompt_publish
from evaluation.models import GenerationItem, GenerationRun, ModelEndpoint, RunPurpose
from ftapp.errors import InvalidInput

SCOPES = ("batch", "filter", "judged", "ids")
TASK_IDS_MAX = 100_000
PARSE_ATTEMPTS_DEFAULT = 2
PARSE_ATTEMPTS_MAX = 5


def _bad(message: str) -> InvalidInput:
    return InvalidInput(message, fields={"selection": [message]})


def _id(value: Any) -> int | None:
    valid = isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63
    return value if valid else None


def judge_run_tasks(*, project: Project, selection: dict[str, Any]) -> QuerySet[Task]:
    """The tasks a selection names: ``{"scope": "batch", "batch_id": N}``, ``{"scope":
    "filter", "query": {...}}`` (the data browser's query parameters), ``{"scope":
    "judged"}`` (tasks with a human judgment: what calibration compares) or ``{"scope":
    "ids", "task_ids": [...]}``. Raises ``InvalidInput`` about ``selection``."""
    if not isinstance(selection, dict):
        raise _bad("Give the selection as an object with a scope.")
    scope = selection.get("scope")
    tasks = Task.objects.filter(project=project)
    if scope == "batch":
        batch_id = _id(selection.get("batch_id"))
        if batch_id is None or not project.batches.filter(pk=batch_id).exists():
            raise _bad("Give the batch_id of a batch of the project.")
        tasks = tasks.filter(batch_id=batch_id)
    elif scope == "filter":
        query = selection.get("query")
        if not isinstance(query, dict):
            raise _bad("Give the query as an object of the data browser's parameters.")
        # As the data browser's query string reads: a repeated name (meta) is a list.
        params = QueryDict(mutable=True)
        for name, value in query.items():
            values = value if isinstance(value, list) else [value]
            params.setlist(str(name), ["" if v is None else str(v) for v in values])
        try:
            tasks = tasks_matching(project=project, task_filter=task_filter_from_query(params))
        except InvalidInput as bad:
            raise _bad(str(bad)) from None
    elif scope == "judged":
        tasks = tasks.filter(Exists(Judgment.objects.filter(task=OuterRef("pk"))))
    elif scope == "ids":
        task_ids = selection.get("task_ids")
        if not isinstance(task_ids, list) or not task_ids or len(task_ids) > TASK_IDS_MAX:
            raise _bad(f"Give task_ids: a list of 1 to {TASK_IDS_MAX} task ids.")
        ids = {_id(t) for t in task_ids}
        if None in ids:
            raise _bad("Task ids are whole numbers.")
        tasks = tasks.filter(pk__in=ids)
        if tasks.count() != len(ids):
            raise _bad("Some task ids are not tasks of the project.")
    else:
        raise _bad(f"Unknown scope; use one of {', '.join(SCOPES)}.")
    return tasks.order_by("id")


def _judge(endpoint_id: int) -> ModelEndpoint:
    try:
        return generation_run_endpoints(endpoint_ids=[endpoint_id])[0]
    except InvalidInput as bad:
        raise InvalidInput(bad.message, fields={"judge": bad.fields.get("models", [])}) from None


def _parse_attempts(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        value = 0
    if not 1 <= value <= PARSE_ATTEMPTS_MAX:
        raise InvalidInput(
            "Unusable parse attempts.",
            fields={"parse_attempts": [f"A whole number from 1 to {PARSE_ATTEMPTS_MAX}."]},
        )
    return value


def _judge_prompt(*, by: User, project: Project, prompt_version: int | None) -> JudgePrompt:
    """The version asked for, else the current one; before any is published, ftapp's default
    is published as version 1, so that a run always names the prompt it asked."""
    if prompt_version is not None:
        return judge_prompt_get(project=project, version=prompt_version)
    current = judge_prompt_current(project=project)
    if current is not None:
        return current
    system, template = judge_prompt_default(project=project)
    return judge_prompt_publish(
        by=by, project_id=project.pk, system=system, template=template, change_note=""
    )


def judge_run_start(
    *,
    by: User,
    project_id: int,
    endpoint_id: int,
    selection: dict[str, Any],
    prompt_version: int | None = None,
    params: dict[str, Any] | None = None,
    parse_attempts: int = PARSE_ATTEMPTS_DEFAULT,
) -> GenerationRun:
    """Starts a judge run of the endpoint over the selected tasks (``judge_run_tasks``), with
    judge prompt ``prompt_version`` (the current one when None): one item per rating task,
    two per pairwise task (each order). The endpoint's server is probed first, as for a
    generation run: one that does not answer refuses the start and nothing is created.
    ``params`` override the endpoint's; an answer that does not follow the schema is asked
    again, with a new seed, up to ``parse_attempts`` times in all."""
    project = project_get_for_lead(user=by, project_id=project_id)
    endpoint = _judge(endpoint_id)
    params = dict(params_check(params or {}))
    params["parse_attempts"] = _parse_attempts(parse_attempts)
    if prompt_version is not None:
        judge_prompt_get(project=project, version=prompt_version)
    if not judge_run_tasks(project=project, selection=selection).exists():
        raise _bad("No task matches.")
    model_endpoints_probe(endpoints=[endpoint], field="judge")
    with transaction.atomic():
        judge_prompt = _judge_prompt(by=by, project=project, prompt_version=prompt_version)
        tasks = list(
            judge_run_tasks(project=project, selection=selection).values_list("id", "prompt_id")
        )
        if not tasks:
            raise _bad("No task matches.")
        orders = 2 if project.kind == ProjectKind.PAIRWISE else 1
        run = GenerationRun.objects.create(
            project=project,
            purpose=RunPurpose.JUDGE,
            judge_prompt=judge_prompt,
            samples=orders,
            params=params,
            selection=selection,
            created_by=by,
        )
        run.endpoints.set([endpoint])
        GenerationItem.objects.bulk_create(
            (
                GenerationItem(
                    run=run, prompt_id=prompt_id, task_id=task_id, endpoint=endpoint, sample=order
                )
                for task_id, prompt_id in tasks
                for order in range(orders)
            ),
            batch_size=2000,
        )
        generation_run_dispatch(run=run)
    return run
