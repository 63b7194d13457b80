"""Writes on the model side: model endpoints, generation runs and their items."""

import math
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from annotation.models import Prompt, Response, Task
from annotation.selectors import metadata_matching, project_get_for_lead
from annotation.services import tasks_create_for_responses
from evaluation.generation import local_model
from evaluation.generation.client import ModelCallFailed, chat_completion, excerpt, list_models
from evaluation.generation.limiter import endpoint_slot
from evaluation.generation.model_keys import key_variable_problem
from evaluation.generation.selectors import generation_run_get_for_lead
from evaluation.models import (
    GenerationItem,
    GenerationRun,
    ItemStatus,
    ModelEndpoint,
    RunStatus,
    TaskCreation,
    WorkerHeartbeat,
)
from ftapp.errors import Conflict, Forbidden, InvalidInput, NotFound
from ftapp.queueing import enqueue_on_commit

PARAM_KEYS = {"temperature", "top_p", "max_tokens", "seed", "stop", "system"}


def worker_heartbeat_record(*, queue: str, hostname: str, seen_at: datetime) -> WorkerHeartbeat:
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(
        queue=queue, hostname=hostname, defaults={"seen_at": seen_at}
    )
    return heartbeat


def _number(low: float, high: float):
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "a number"
        if not math.isfinite(value) or not low <= value <= high:
            return f"a finite number from {low:g} to {high:g}"
        return None

    return check


def _whole(low: int, high: int):
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"a whole number from {low} to {high}"
        return None

    return check


def _stop(value: Any) -> str | None:
    if isinstance(value, str):
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return None
    return "a text or a list of texts"


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) else "a text"


# What each parameter must be for an OpenAI-compatible server to take it. A value the server
# cannot use, or one that cannot even be sent (NaN), would fail every request of a run.
PARAM_CHECKS = {
    "temperature": _number(0, 100),
    "top_p": _number(0, 1),
    "max_tokens": _whole(1, 2**31 - 1),
    "seed": _whole(-(2**63), 2**63 - 1 - 20),
    "stop": _stop,
    "system": _text,
}
PARAM_KEYS = set(PARAM_CHECKS)


def _check_params(params: dict[str, Any]) -> dict[str, Any]:
    problems = [
        f"Unknown {key!r}; use {sorted(PARAM_KEYS)}." for key in sorted(set(params) - PARAM_KEYS)
    ]
    for key, check in PARAM_CHECKS.items():
        if key in params and (expected := check(params[key])):
            problems.append(f"{key} must be {expected}, not {params[key]!r}.")
    if problems:
        raise InvalidInput("Unusable parameters.", fields={"params": problems})
    return params


def model_endpoint_create(*, by: User, **fields: Any) -> ModelEndpoint:
    """Registers a model endpoint. The API key is named by an environment variable, never
    given: ``api_key_env``."""
    if not by.has_perm("evaluation.add_modelendpoint"):
        raise Forbidden("You may not register models; ask an admin for that permission.")
    _check_params(fields.get("params") or {})
    endpoint = ModelEndpoint(created_by=by, **fields)
    endpoint.full_clean()
    endpoint.save()
    return endpoint


def model_endpoint_register_local(*, by: User, base_url: str) -> tuple[ModelEndpoint, bool]:
    """Registers the local Gemma 3 270M base model served by ``manage.py serve_local_model``,
    once: run again, it only follows a changed URL. Returns the endpoint and whether it is
    new. It answers one request at a time, hence a concurrency of 1."""
    if not by.has_perm("evaluation.add_modelendpoint"):
        raise Forbidden("You may not register models; ask an admin for that permission.")
    endpoint = ModelEndpoint.objects.filter(name=local_model.ENDPOINT_NAME).first()
    if endpoint is None:
        endpoint = model_endpoint_create(
            by=by,
            name=local_model.ENDPOINT_NAME,
            base_url=base_url,
            model=local_model.MODEL_ID,
            params=dict(local_model.ENDPOINT_PARAMS),
            max_concurrency=1,
        )
        return endpoint, True
    if endpoint.base_url != base_url:
        endpoint.base_url = base_url
        endpoint.full_clean()
        endpoint.save(update_fields=["base_url", "updated_at"])
    return endpoint, False


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


@transaction.atomic
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
    """Creates a run with one item per prompt × endpoint × sample and queues it. In a
    pairwise project, ``pair_with`` restricts the new tasks to pairs with those models."""
    project = project_get_for_lead(user=by, project_id=project_id)
    endpoints = list(ModelEndpoint.objects.filter(pk__in=endpoint_ids))
    if not endpoints or len(endpoints) != len(set(endpoint_ids)):
        raise InvalidInput("Unknown model.", fields={"models": ["Give registered model ids."]})
    refused = [
        f"{e.name}: {problem}"
        for e in endpoints
        if e.api_key_env and (problem := key_variable_problem(e.api_key_env))
    ]
    if refused:
        raise InvalidInput("A model's key variable is not allowed.", fields={"models": refused})
    if not 1 <= samples <= 20:
        raise InvalidInput("1 to 20 samples.", fields={"samples": ["1 to 20."]})
    if create_tasks not in TaskCreation.values:
        raise InvalidInput("Unknown option.", fields={"create_tasks": TaskCreation.values})
    batch = None
    if target_batch_id is not None:
        batch = project.batches.filter(pk=target_batch_id).first()
        if batch is None:
            raise InvalidInput("No such batch.", fields={"batch": ["Not a batch of the project."]})
    selection = selection or {"scope": "all"}
    prompt_ids = list(_prompts(project, selection, endpoints).values_list("id", flat=True))
    if not prompt_ids:
        raise InvalidInput("No prompt matches.", fields={"prompts": ["No prompt matches."]})
    run = GenerationRun.objects.create(
        project=project,
        samples=samples,
        params=_check_params(params or {}),
        selection=selection,
        create_tasks=create_tasks,
        target_batch=batch,
        pair_with=list(pair_with or []),
        created_by=by,
    )
    run.endpoints.set(endpoints)
    GenerationItem.objects.bulk_create(
        GenerationItem(run=run, prompt_id=p, endpoint=e, sample=s)
        for p in prompt_ids
        for e in endpoints
        for s in range(samples)
    )
    enqueue_on_commit(
        lambda: _dispatch(run.pk),
        undo=lambda: GenerationRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).delete(),
    )
    return run


def _dispatch(run_id: int) -> None:
    from evaluation.tasks import dispatch_run

    dispatch_run.apply_async([run_id], ignore_result=True)


def run_chunks(*, run_id: int, size: int = 10) -> list[list[int]]:
    """Marks the run running and splits its pending items into chunks for the workers."""
    now = timezone.now()
    GenerationRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now
    )
    ids = list(
        GenerationItem.objects.filter(run_id=run_id, status=ItemStatus.PENDING)
        .order_by("id")
        .values_list("id", flat=True)
    )
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _messages(prompt: Prompt, params: dict[str, Any]) -> list[dict[str, str]]:
    system = params.get("system", prompt.system)
    return ([{"role": "system", "content": system}] if system else []) + prompt.turns()


def generation_item_process(*, item_id: int) -> GenerationItem | None:
    """Calls the model for one pending item and stores its response, exactly once: the item
    row is locked and re-checked before the response is written."""
    item = (
        GenerationItem.objects.select_related("run", "endpoint", "prompt")
        .filter(pk=item_id)
        .first()
    )
    if item is None or item.status != ItemStatus.PENDING:
        return item
    run, endpoint = item.run, item.endpoint
    if GenerationRun.objects.filter(
        pk=run.pk, status__in=[RunStatus.CANCELLED, RunStatus.FAILED]
    ).exists():
        return item
    params = {**endpoint.params, **run.params}
    # A lease slightly longer than the request's timeout: a slot is held for one request at a
    # time and lapses on its own when a worker is killed mid-call.
    lease = endpoint.timeout_seconds + 10
    try:
        # Parameters stored before they were checked would otherwise crash the task here,
        # leaving the item pending and the run running.
        _check_params(params)
        request = {k: v for k, v in params.items() if k != "system"}
        if "seed" in params or run.samples > 1:
            # Samples are separate requests: servers such as llama.cpp ignore n.
            request["seed"] = params.get("seed", 0) + item.sample
        completion = chat_completion(
            base_url=endpoint.base_url,
            model=endpoint.model,
            messages=_messages(item.prompt, params),
            params=request,
            api_key_env=endpoint.api_key_env,
            timeout=endpoint.timeout_seconds,
            slot=lambda: endpoint_slot(endpoint.pk, endpoint.max_concurrency, lease),
        )
    except InvalidInput as unusable:
        _item_fail(item, error=str(unusable), attempts=0, refused=True)
        return item
    except ModelCallFailed as failure:
        _item_fail(
            item, error=str(failure), attempts=failure.attempts, refused=not failure.retryable
        )
        return item
    with transaction.atomic():
        locked = GenerationItem.objects.select_for_update().get(pk=item.pk)
        if locked.status != ItemStatus.PENDING:
            return locked  # a redelivered task finished it first
        response = Response.objects.create(
            prompt=item.prompt,
            model_name=endpoint.name,
            model_endpoint=endpoint,
            text=completion.text,
            generation={
                "run": run.pk,
                "sample": item.sample,
                "params": request,
                "tokens_in": completion.tokens_in,
                "tokens_out": completion.tokens_out,
                "latency_ms": completion.latency_ms,
                "finish_reason": completion.finish_reason,
            },
        )
        locked.status = ItemStatus.DONE
        locked.response = response
        locked.attempts = completion.attempts
        locked.tokens_in, locked.tokens_out = completion.tokens_in, completion.tokens_out
        locked.latency_ms, locked.finish_reason = completion.latency_ms, completion.finish_reason
        locked.error = ""
        locked.save()
        if run.create_tasks == TaskCreation.AS_ARRIVE:
            _tasks_for(run, [response])
    return locked


# A run stops, failed, once this many of its requests have been refused alike and none has
# succeeded: parameters or a key the server will not take fail every request the same way,
# and sending the rest would only repeat it.
STOP_AFTER_IDENTICAL_REFUSALS = 5


def _item_fail(item: GenerationItem, *, error: str, attempts: int, refused: bool) -> None:
    """Records the item's failure. ``refused``: trying again would not help (a 4xx other
    than 408/409/425/429, a body that is no completion, unusable parameters, a key variable
    not allowed)."""
    error = error[:2000]
    GenerationItem.objects.filter(pk=item.pk, status=ItemStatus.PENDING).update(
        status=ItemStatus.FAILED, error=error, attempts=attempts
    )
    if not refused:
        return
    figures = item.run.items.aggregate(
        done=Count("id", filter=Q(status=ItemStatus.DONE)),
        failed=Count("id", filter=Q(status=ItemStatus.FAILED)),
        other_errors=Count("id", filter=Q(status=ItemStatus.FAILED) & ~Q(error=error)),
    )
    if (
        figures["done"] == 0
        and figures["other_errors"] == 0
        and figures["failed"] >= STOP_AFTER_IDENTICAL_REFUSALS
    ):
        GenerationRun.objects.filter(pk=item.run_id, status=RunStatus.RUNNING).update(
            status=RunStatus.FAILED, finished_at=timezone.now()
        )


def _tasks_for(run: GenerationRun, responses: list[Response]) -> int:
    tasks = tasks_create_for_responses(
        project=run.project, responses=responses, against_models=set(run.pair_with)
    )
    if run.target_batch_id and tasks:
        Task.objects.filter(pk__in=[t.pk for t in tasks]).update(batch_id=run.target_batch_id)
    GenerationRun.objects.filter(pk=run.pk).update(tasks_created=F("tasks_created") + len(tasks))
    return len(tasks)


@transaction.atomic
def generation_run_finish_if_done(*, run_id: int) -> bool:
    """Completes the run once no item is pending, or fails it when not one item succeeded;
    creates its tasks if that waits for the end. Safe to call from every chunk: the run row
    is locked."""
    run = GenerationRun.objects.select_for_update().select_related("project").get(pk=run_id)
    if run.status != RunStatus.RUNNING:
        return False
    if run.items.filter(status=ItemStatus.PENDING).exists():
        return False
    if not run.items.filter(status=ItemStatus.DONE).exists():
        run.status, run.finished_at = RunStatus.FAILED, timezone.now()
        run.save(update_fields=["status", "finished_at"])
        return True
    if run.create_tasks == TaskCreation.ON_FINISH:
        responses = list(
            Response.objects.filter(
                pk__in=run.items.filter(status=ItemStatus.DONE).values("response_id")
            )
        )
        _tasks_for(run, responses)
    run.status = RunStatus.COMPLETED
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "finished_at"])
    return True


def generation_run_cancel(*, by: User, run_id: int) -> GenerationRun:
    """Stops further calls; items already answered keep their responses."""
    run = generation_run_get_for_lead(user=by, run_id=run_id)
    if run.status in (RunStatus.COMPLETED, RunStatus.CANCELLED, RunStatus.FAILED):
        raise Conflict(f"The run is already {run.status}.")
    GenerationRun.objects.filter(pk=run.pk).update(status=RunStatus.CANCELLED)
    run.refresh_from_db()
    return run


def generation_run_resume(*, by: User, run_id: int, retry_failed: bool = False):
    """Queues a cancelled (or finished) run's pending items again, and optionally its failed
    ones."""
    run = generation_run_get_for_lead(user=by, run_id=run_id)
    if run.status == RunStatus.RUNNING:
        raise Conflict("The run is running.")
    with transaction.atomic():
        if retry_failed:
            run.items.filter(status=ItemStatus.FAILED).update(status=ItemStatus.PENDING, error="")
        GenerationRun.objects.filter(pk=run.pk).update(status=RunStatus.QUEUED, finished_at=None)
        # Unsent, the run is stopped again, its items still to do.
        enqueue_on_commit(
            lambda: _dispatch(run.pk),
            undo=lambda: GenerationRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
                status=RunStatus.CANCELLED
            ),
        )
    run.refresh_from_db()
    return run


MODELS_SHOWN = 5


def _answer(failure: ModelCallFailed) -> str:
    """A failure as a page shows it: ours in full (a request not sent says why), the
    server's as its status and an excerpt."""
    if failure.attempts == 0:
        return str(failure)
    if failure.status is None:
        return excerpt(str(failure))
    return f"HTTP {failure.status}: {excerpt(failure.reply)}"


def model_endpoint_test(*, by: User, endpoint_id: int) -> dict[str, Any]:
    """Lists the server's models and sends one short request: what a lead needs to know
    before starting a run. Of the server's answers it keeps only statuses and short,
    printable excerpts: the page shows them, and the server is the registrant's to choose."""
    if not by.has_perm("evaluation.add_modelendpoint"):
        raise Forbidden("You may not test models; ask an admin for that permission.")
    endpoint = ModelEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound("No such model.")
    result: dict[str, Any] = {"endpoint": endpoint.name, "ok": False}
    try:
        models = list_models(
            base_url=endpoint.base_url, api_key_env=endpoint.api_key_env, timeout=10
        )
    except ModelCallFailed as failure:
        result["error"] = f"Listing models failed: {_answer(failure)}"
        return result
    result["models"] = [excerpt(m, 60) for m in models[:MODELS_SHOWN]]
    result["models_more"] = max(len(models) - MODELS_SHOWN, 0)
    try:
        completion = chat_completion(
            base_url=endpoint.base_url,
            model=endpoint.model,
            messages=[{"role": "user", "content": "Say hello in one word."}],
            params={"max_tokens": 8},
            api_key_env=endpoint.api_key_env,
            timeout=min(endpoint.timeout_seconds, 30),
            max_attempts=1,
        )
    except ModelCallFailed as failure:
        result["error"] = f"The test request failed: {_answer(failure)}"
        return result
    result.update(ok=True, sample=excerpt(completion.text), latency_ms=completion.latency_ms)
    return result
