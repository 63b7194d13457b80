"""Writes of generation runs: start one, mark it running, create its tasks, finish, cancel
or resume it."""

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from annotation.models import Batch, BatchStatus, Project, Prompt, Response, Task
from annotation.selectors import metadata_matching, project_get_for_lead
from annotation.services.tasks import tasks_add_to_batch, tasks_create_for_responses
from evaluation.generation.model_keys import key_variable_problem
from evaluation.generation.selectors import generation_run_get_for_lead
from evaluation.generation.services.endpoints import model_endpoints_probe, params_check
from evaluation.models import (
    GenerationItem,
    GenerationRun,
    ItemStatus,
    ModelEndpoint,
    RunPurpose,
    RunStatus,
    TaskCreation,
)
from ftapp.actors import SYSTEM
from ftapp.errors import Conflict, InvalidInput
from ftapp.queueing import enqueue_on_commit


def _prompts(project, selection: dict[str, Any], endpoints: list[ModelEndpoint]):
    prompts = Prompt.objects.filter(project=project)
    scope = selection.get("scope", "all")
    if scope == "batch":
        batch_id = selection.get("batch_id")
        if batch_id is None:
            raise InvalidInput("Name the batch.", fields={"prompts": ["Give the batch_id."]})
        prompts = prompts.filter(tasks__batch_id=batch_id).distinct()
    elif scope == "metadata":
        metadata = selection.get("metadata") or {}
        prompts = metadata_matching(prompts, field="metadata", metadata=metadata)
    elif scope == "missing":
        names = [e.name for e in endpoints]
        prompts = prompts.exclude(responses__model_name__in=names)
    elif scope == "ids":
        prompts = prompts.filter(pk__in=selection.get("prompt_ids") or [])
    elif scope != "all":
        raise InvalidInput(
            "Unknown prompt selection.", fields={"prompts": ["all, batch, metadata or missing."]}
        )
    return prompts.order_by("id")


def generation_run_endpoints(*, endpoint_ids: list[int]) -> list[ModelEndpoint]:
    """The endpoints a new run (or round) may call: registered, not retired, their key
    variable allowed."""
    endpoints = list(ModelEndpoint.objects.filter(pk__in=endpoint_ids))
    if not endpoints or len(endpoints) != len(set(endpoint_ids)):
        raise InvalidInput("Unknown model.", fields={"models": ["Give registered model ids."]})
    retired = [e.name for e in endpoints if e.retired_at is not None]
    if retired:
        message = f"Retired, so not used for new runs: {', '.join(retired)}."
        raise InvalidInput(message, fields={"models": [message]})
    refused = [
        f"{e.name}: {problem}"
        for e in endpoints
        if e.api_key_env and (problem := key_variable_problem(e.api_key_env))
    ]
    if refused:
        raise InvalidInput("A model's key variable is not allowed.", fields={"models": refused})
    return endpoints


@dataclass(frozen=True)
class _RunPlan:
    project: Project
    endpoints: list[ModelEndpoint]
    batch: Batch | None
    selection: dict[str, Any]
    params: dict[str, Any]
    prompt_ids: list[int]


def _run_plan(
    *,
    by: User,
    project_id: int,
    endpoint_ids: list[int],
    samples: int,
    params: dict[str, Any] | None,
    selection: dict[str, Any] | None,
    create_tasks: str,
    target_batch_id: int | None,
) -> _RunPlan:
    """What a new run would be, every choice checked: reads only."""
    project = project_get_for_lead(user=by, project_id=project_id)
    endpoints = generation_run_endpoints(endpoint_ids=endpoint_ids)
    if not 1 <= samples <= 20:
        raise InvalidInput("1 to 20 samples.", fields={"samples": ["1 to 20."]})
    if create_tasks not in TaskCreation.values:
        raise InvalidInput("Unknown option.", fields={"create_tasks": TaskCreation.values})
    batch = None
    if target_batch_id is not None:
        batch = project.batches.filter(pk=target_batch_id).first()
        if batch is None:
            raise InvalidInput("No such batch.", fields={"batch": ["Not a batch of the project."]})
    params = params_check(params or {})
    selection = selection or {"scope": "all"}
    prompt_ids = list(_prompts(project, selection, endpoints).values_list("id", flat=True))
    if not prompt_ids:
        raise InvalidInput("No prompt matches.", fields={"prompts": ["No prompt matches."]})
    return _RunPlan(project, endpoints, batch, selection, params, prompt_ids)


def generation_run_start(
    *,
    by: User,
    project_id: int,
    endpoint_ids: list[int],
    samples: int = 1,
    params: dict[str, Any] | None = None,
    selection: dict[str, Any] | None = None,
    create_tasks: str = TaskCreation.ON_FINISH,
    target_batch_id: int | None = None,
    pair_with: list[str] | None = None,
) -> GenerationRun:
    """Starts a run of one item per prompt × endpoint × sample, once every endpoint's server
    answers (``model_endpoints_probe``): one that does not refuses the start and nothing is
    created. In a pairwise project, ``pair_with`` restricts the new tasks to pairs with those
    models."""
    plan = _run_plan(
        by=by,
        project_id=project_id,
        endpoint_ids=endpoint_ids,
        samples=samples,
        params=params,
        selection=selection,
        create_tasks=create_tasks,
        target_batch_id=target_batch_id,
    )
    model_endpoints_probe(endpoints=plan.endpoints)
    return generation_run_create(
        by=by,
        project_id=project_id,
        endpoint_ids=endpoint_ids,
        samples=samples,
        params=params,
        selection=selection,
        create_tasks=create_tasks,
        target_batch_id=target_batch_id,
        pair_with=pair_with,
    )


@transaction.atomic
def generation_run_create(
    *,
    by: User,
    project_id: int,
    endpoint_ids: list[int],
    samples: int = 1,
    params: dict[str, Any] | None = None,
    selection: dict[str, Any] | None = None,
    create_tasks: str = TaskCreation.ON_FINISH,
    target_batch_id: int | None = None,
    pair_with: list[str] | None = None,
) -> GenerationRun:
    """Creates the run and queues it, its endpoints not probed: ``generation_run_start``
    probes them first, a round before its own transaction (a probe waits on the network,
    which no transaction should)."""
    plan = _run_plan(
        by=by,
        project_id=project_id,
        endpoint_ids=endpoint_ids,
        samples=samples,
        params=params,
        selection=selection,
        create_tasks=create_tasks,
        target_batch_id=target_batch_id,
    )
    run = GenerationRun.objects.create(
        project=plan.project,
        samples=samples,
        params=plan.params,
        selection=plan.selection,
        create_tasks=create_tasks,
        target_batch=plan.batch,
        pair_with=list(pair_with or []),
        created_by=by,
    )
    run.endpoints.set(plan.endpoints)
    GenerationItem.objects.bulk_create(
        GenerationItem(run=run, prompt_id=p, endpoint=e, sample=s)
        for p in plan.prompt_ids
        for e in plan.endpoints
        for s in range(samples)
    )
    generation_run_dispatch(run=run)
    return run


def generation_run_dispatch(*, run: GenerationRun) -> None:
    """Sends a new run to the workers once its transaction commits; a run that cannot be
    sent is deleted with its items, as if never started."""
    enqueue_on_commit(
        lambda: _dispatch(run.pk),
        undo=lambda: GenerationRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).delete(),
    )


def _dispatch(run_id: int) -> None:
    from evaluation.tasks import dispatch_run

    dispatch_run.apply_async([run_id], ignore_result=True)


def generation_run_mark_running(*, run_id: int) -> None:
    """A queued run's dispatch has reached a worker: the run is running from now."""
    GenerationRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=timezone.now()
    )


def generation_run_tasks_create(*, run: GenerationRun, responses: list[Response]) -> int:
    """Creates the tasks the run's new responses call for, in the batch it fills if any."""
    tasks = tasks_create_for_responses(
        project=run.project, responses=responses, against_models=set(run.pair_with)
    )
    if run.target_batch is not None and tasks:
        tasks_add_to_batch(by=SYSTEM, batch=run.target_batch, task_ids=[t.pk for t in tasks])
    GenerationRun.objects.filter(pk=run.pk).update(tasks_created=F("tasks_created") + len(tasks))
    return len(tasks)


@transaction.atomic
def generation_run_finish_if_done(*, run_id: int) -> bool:
    """Ends the run once no item is pending: ``completed`` when every item succeeded,
    ``completed_with_failures`` when some failed, ``failed`` when not one succeeded; creates
    its tasks if that waits for the end. Safe to call from every chunk: the run row is
    locked."""
    run = GenerationRun.objects.select_for_update().select_related("project").get(pk=run_id)
    if run.status != RunStatus.RUNNING:
        return False
    if run.items.filter(status=ItemStatus.PENDING).exists():
        return False
    if not run.items.filter(status=ItemStatus.DONE).exists():
        run.status, run.finished_at = RunStatus.FAILED, timezone.now()
        run.save(update_fields=["status", "finished_at"])
        generation_run_batch_close_if_empty(run=run)
        return True
    if run.purpose == RunPurpose.GENERATE and run.create_tasks == TaskCreation.ON_FINISH:
        responses = list(
            Response.objects.filter(
                pk__in=run.items.filter(status=ItemStatus.DONE).values("response_id")
            )
        )
        generation_run_tasks_create(run=run, responses=responses)
    failed = run.items.filter(status=ItemStatus.FAILED).exists()
    run.status = RunStatus.COMPLETED_WITH_FAILURES if failed else RunStatus.COMPLETED
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "finished_at"])
    generation_run_batch_close_if_empty(run=run)
    return True


def generation_run_batch_close_if_empty(*, run: GenerationRun) -> None:
    """A run that ended without putting a task into the batch it fills (a round's) would
    leave that batch open with nothing in it: it is closed, saying why. Resuming the run
    opens it again."""
    if run.target_batch_id is None:
        return
    reason = (
        f"Generation run {run.pk} ended {run.get_status_display().lower()} without creating "
        "a task for this batch. Resume the run (retrying its failures) to fill it."
    )
    Batch.objects.filter(pk=run.target_batch_id, status=BatchStatus.OPEN).exclude(
        Exists(Task.objects.filter(batch=OuterRef("pk")))
    ).update(status=BatchStatus.CLOSED, closed_reason=reason)


def generation_run_cancel(*, by: User, run_id: int) -> GenerationRun:
    """Stops further calls; items already answered keep their responses."""
    run = generation_run_get_for_lead(user=by, run_id=run_id, purpose=None)
    if run.ended:
        raise Conflict(f"The run is already {run.status}.")
    GenerationRun.objects.filter(pk=run.pk).update(status=RunStatus.CANCELLED)
    run.refresh_from_db()
    generation_run_batch_close_if_empty(run=run)
    return run


def generation_run_resume(*, by: User, run_id: int, retry_failed: bool = False):
    """Queues a cancelled (or finished) run's pending items again, and optionally its failed
    ones."""
    run = generation_run_get_for_lead(user=by, run_id=run_id, purpose=None)
    if run.status == RunStatus.RUNNING:
        raise Conflict("The run is running.")
    with transaction.atomic():
        if retry_failed:
            run.items.filter(status=ItemStatus.FAILED).update(status=ItemStatus.PENDING, error="")
        GenerationRun.objects.filter(pk=run.pk).update(status=RunStatus.QUEUED, finished_at=None)
        if run.target_batch_id is not None:
            Batch.objects.filter(pk=run.target_batch_id, status=BatchStatus.CLOSED).exclude(
                closed_reason=""
            ).update(status=BatchStatus.OPEN, closed_reason="")
        # Unsent, the run is stopped again, its items still to do.
        enqueue_on_commit(
            lambda: _dispatch(run.pk),
            undo=lambda: GenerationRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
                status=RunStatus.CANCELLED
            ),
        )
    run.refresh_from_db()
    return run
