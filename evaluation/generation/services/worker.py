"""The workers' side of generation: answering one item of a run exactly once, failing it,
and the heartbeat by which a worker says which queue it consumes."""

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from annotation.models import Prompt
from annotation.services.tasks import response_add
from evaluation.generation.client import ModelCallFailed, chat_completion
from evaluation.generation.limiter import endpoint_slot
from evaluation.generation.services.endpoints import params_check
from evaluation.generation.services.runs import (
    generation_run_batch_close_if_empty,
    generation_run_tasks_create,
)
from evaluation.models import (
    GenerationItem,
    GenerationRun,
    ItemStatus,
    RunStatus,
    TaskCreation,
    WorkerHeartbeat,
)
from ftapp.actors import SYSTEM
from ftapp.errors import InvalidInput


def worker_heartbeat_record(*, queue: str, hostname: str, seen_at: datetime) -> WorkerHeartbeat:
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(
        queue=queue, hostname=hostname, defaults={"seen_at": seen_at}
    )
    return heartbeat


def _messages(prompt: Prompt, params: dict[str, Any]) -> list[dict[str, str]]:
    system = params.get("system", prompt.system)
    return ([{"role": "system", "content": system}] if system else []) + prompt.turns()


def generation_item_process(*, item_id: int) -> GenerationItem | None:
    """Calls the model for one pending item and stores its response, exactly once: the item
    row is locked and re-checked before the response is written."""
    item = (
        GenerationItem.objects.select_related(
            "run__target_batch__project", "endpoint", "prompt__project"
        )
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
        params_check(params)
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
        generation_item_fail(item, error=str(unusable), attempts=0, refused=True)
        return item
    except ModelCallFailed as failure:
        generation_item_fail(
            item, error=str(failure), attempts=failure.attempts, refused=not failure.retryable
        )
        return item
    with transaction.atomic():
        locked = GenerationItem.objects.select_for_update().get(pk=item.pk)
        if locked.status != ItemStatus.PENDING:
            return locked  # a redelivered task finished it first
        response = response_add(
            by=SYSTEM,
            prompt=item.prompt,
            model_name=endpoint.name,
            model_endpoint_id=endpoint.pk,
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
            generation_run_tasks_create(run=run, responses=[response])
    return locked


# A run stops, failed, once this many of its requests have been refused alike and none has
# succeeded: parameters or a key the server will not take fail every request the same way,
# and sending the rest would only repeat it.
STOP_AFTER_IDENTICAL_REFUSALS = 5


def generation_item_fail(
    item: GenerationItem, *, error: str, attempts: int, refused: bool, raw_output: str = ""
) -> None:
    """Records the item's failure, with what the model answered before it if anything (a
    judge's answer that did not parse). ``refused``: trying again would not help (a 4xx
    other than 408/409/425/429, a body that is no completion, unusable parameters, a key
    variable not allowed)."""
    error = error[:2000]
    GenerationItem.objects.filter(pk=item.pk, status=ItemStatus.PENDING).update(
        status=ItemStatus.FAILED, error=error, attempts=attempts, raw_output=raw_output
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
        stopped = GenerationRun.objects.filter(pk=item.run_id, status=RunStatus.RUNNING).update(
            status=RunStatus.FAILED, finished_at=timezone.now()
        )
        if stopped:
            generation_run_batch_close_if_empty(run=GenerationRun.objects.get(pk=item.run_id))
