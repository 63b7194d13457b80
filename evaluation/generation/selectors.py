"""Reads on the model side."""

from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from annotation.models import Membership, Project, Role
from annotation.selectors import in_led_project
from evaluation.models import (
    GenerationItem,
    GenerationRun,
    ItemStatus,
    ModelEndpoint,
    RunPurpose,
    RunStatus,
)
from ftapp.errors import Forbidden, NotFound


def model_endpoints_visible(*, user) -> bool:
    """Who may see the registered model endpoints (names, servers, key variables): leads of
    a project, users allowed to add or view them, staff. Not annotators, who must not learn
    which models wrote what they judge, nor users outside every project."""
    if not user.is_authenticated:
        return False
    return (
        user.is_staff
        or user.has_perm("evaluation.view_modelendpoint")
        or user.has_perm("evaluation.add_modelendpoint")
        or Membership.objects.filter(user=user, role=Role.LEAD).exists()
    )


def model_endpoints_manageable(*, user) -> bool:
    """Who may register, test and change model endpoints: any lead of a project, and users
    given the permission to add them."""
    if not user.is_authenticated:
        return False
    return (
        user.has_perm("evaluation.add_modelendpoint")
        or Membership.objects.filter(user=user, role=Role.LEAD).exists()
    )


def model_endpoint_list(*, user) -> QuerySet[ModelEndpoint]:
    if not model_endpoints_visible(user=user):
        raise Forbidden("Model endpoints are shown to project leads and to those who manage them.")
    return ModelEndpoint.objects.all()


def model_endpoints_offered(*, user) -> QuerySet[ModelEndpoint]:
    """The models a new run or round may use: those not retired."""
    return model_endpoint_list(user=user).filter(retired_at__isnull=True)


def model_endpoint_get_for_manager(*, user, endpoint_id: int) -> ModelEndpoint:
    """The model endpoint, for someone who may change it (a lead of any project, or a user
    given the permission): 403 for anyone else, 404 when there is no such model."""
    if not model_endpoints_manageable(user=user):
        raise Forbidden("Models are changed by project leads.")
    endpoint = ModelEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound("No such model.")
    return endpoint


def generation_run_list(*, project: Project) -> QuerySet[GenerationRun]:
    """The project's generation runs, newest first (its judge runs are the judge's)."""
    return project.generation_runs.filter(purpose=RunPurpose.GENERATE)


def generation_run_get_for_lead(
    *, user: User, run_id: int, purpose: str | None = RunPurpose.GENERATE
) -> GenerationRun:
    """The run, if the user leads its project (404 outside it, 403 for its other members).
    Of the given ``purpose`` only (None: any, for what every run shares: cancel, resume)."""
    runs = GenerationRun.objects.select_related("project").filter(pk=run_id)
    if purpose is not None:
        runs = runs.filter(purpose=purpose)
    return in_led_project(runs.first(), user=user, name="run")


def generation_run_purpose(*, run_id: int) -> str | None:
    """What the run's items do (``RunPurpose``); None when there is no such run."""
    return GenerationRun.objects.filter(pk=run_id).values_list("purpose", flat=True).first()


def generation_items_pending_chunks(*, run_id: int, size: int = 10) -> list[list[int]]:
    """The ids of the run's pending items, in chunks for the workers."""
    ids = list(
        GenerationItem.objects.filter(run_id=run_id, status=ItemStatus.PENDING)
        .order_by("id")
        .values_list("id", flat=True)
    )
    return [ids[i : i + size] for i in range(0, len(ids), size)]


# What the query gives a run with no items yet.
NO_ITEMS = {
    "total": 0,
    "done": 0,
    "failed": 0,
    "tokens_in": None,
    "tokens_out": None,
    "attempts_sum": None,
    "sent": 0,
}


def generation_runs_progress(*, runs: Sequence[GenerationRun]) -> dict[int, dict]:
    """Each run's done / failed / remaining, tokens, elapsed seconds and an ETA from the pace
    so far, in one query however many runs."""
    ended = Q(status__in=[ItemStatus.DONE, ItemStatus.FAILED])
    counted = {
        row.pop("run_id"): row
        for row in GenerationItem.objects.filter(run__in=[run.pk for run in runs])
        .values("run_id")
        .annotate(
            total=Count("id"),
            done=Count("id", filter=Q(status=ItemStatus.DONE)),
            failed=Count("id", filter=Q(status=ItemStatus.FAILED)),
            tokens_in=Sum("tokens_in"),
            tokens_out=Sum("tokens_out"),
            attempts_sum=Sum("attempts", filter=ended),
            sent=Count("id", filter=ended & Q(attempts__gt=0)),
        )
    }
    return {run.pk: _progress(run, counted.get(run.pk, dict(NO_ITEMS))) for run in runs}


def generation_run_progress(*, run: GenerationRun) -> dict:
    return generation_runs_progress(runs=[run])[run.pk]


def _progress(run: GenerationRun, figures: dict) -> dict:
    figures["remaining"] = figures["total"] - figures["done"] - figures["failed"]
    figures["tokens_in"] = figures["tokens_in"] or 0
    figures["tokens_out"] = figures["tokens_out"] or 0
    # One rule with the attempts shown per item: an ended item's retries are its attempts
    # after the first, whether it is done or failed; an item refused unsent has none.
    figures["retries"] = (figures.pop("attempts_sum") or 0) - figures.pop("sent")
    end = run.finished_at or timezone.now()
    elapsed = (end - run.started_at).total_seconds() if run.started_at else 0.0
    finished = figures["done"] + figures["failed"]
    figures["elapsed_seconds"] = round(elapsed, 1)
    figures["eta_seconds"] = (
        round(elapsed / finished * figures["remaining"], 1)
        if finished and figures["remaining"] and run.status == "running"
        else None
    )
    figures["percent"] = round(100 * finished / figures["total"]) if figures["total"] else 0
    return figures


def generation_run_figures(*, run: GenerationRun) -> dict[str, Any]:
    """What the run's page and the API show beside its fields: its models, its progress,
    its failures and why it failed."""
    return {
        "models": sorted(run.endpoints.values_list("name", flat=True)),
        "progress": generation_run_progress(run=run),
        "failures": generation_run_failures(run=run),
        "error": generation_run_error(run=run),
    }


def generation_run_error(*, run: GenerationRun) -> str:
    """Why a failed run failed, or which of a run's requests failed, in a sentence with the
    server's first answer; empty for a run none of whose requests failed."""
    if run.status not in (RunStatus.FAILED, RunStatus.COMPLETED_WITH_FAILURES):
        return ""
    first = run.items.filter(status=ItemStatus.FAILED).order_by("id").first()
    if run.status == RunStatus.COMPLETED_WITH_FAILURES and first is not None:
        failed = run.items.filter(status=ItemStatus.FAILED).count()
        total = run.items.count()
        lacking = (
            "their tasks have no verdict"
            if run.purpose == RunPurpose.JUDGE
            else "their prompts have no new answer"
        )
        return (
            f"{failed} of {total} requests failed: {lacking}. Resume "
            f"and retry failures once the cause is fixed. The first error: {first.error}"
        )
    if first is None:
        return "The run failed."
    failed = run.items.filter(status=ItemStatus.FAILED).count()
    if run.items.filter(status=ItemStatus.PENDING).exists():
        return (
            f"Stopped after {failed} requests failed alike and none succeeded; the rest were "
            f"not sent. Resume once the cause is fixed. The error: {first.error}"
        )
    return f"Not one request succeeded ({failed} failed). The first error: {first.error}"


def generation_run_failures(*, run: GenerationRun, limit: int = 100) -> list[GenerationItem]:
    return list(
        run.items.filter(status=ItemStatus.FAILED)
        .select_related("prompt", "endpoint")
        .order_by("id")[:limit]
    )
