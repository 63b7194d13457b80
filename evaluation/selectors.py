"""Reads on the model side."""

from django.db.models import Count, Q, Sum
from django.utils import timezone

from annotation.selectors import project_get_for_lead
from evaluation.models import GenerationItem, GenerationRun, ItemStatus
from ftapp.errors import NotFound


def generation_run_get_for_lead(*, user, run_id: int) -> GenerationRun:
    """The run, if the user leads its project (404 for anyone outside it, 403 for members)."""
    run = GenerationRun.objects.select_related("project").filter(pk=run_id).first()
    if run is None:
        raise NotFound("No such run.")
    project_get_for_lead(user=user, project_id=run.project_id)
    return run


def generation_run_progress(*, run: GenerationRun) -> dict:
    """Done / failed / remaining, tokens, elapsed seconds and an ETA from the pace so far."""
    figures = run.items.aggregate(
        total=Count("id"),
        done=Count("id", filter=Q(status=ItemStatus.DONE)),
        failed=Count("id", filter=Q(status=ItemStatus.FAILED)),
        tokens_in=Sum("tokens_in"),
        tokens_out=Sum("tokens_out"),
        retries=Sum("attempts", filter=Q(status=ItemStatus.DONE)),
    )
    figures["remaining"] = figures["total"] - figures["done"] - figures["failed"]
    figures["tokens_in"] = figures["tokens_in"] or 0
    figures["tokens_out"] = figures["tokens_out"] or 0
    figures["retries"] = max((figures["retries"] or 0) - figures["done"], 0)
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


def generation_run_failures(*, run: GenerationRun, limit: int = 100) -> list[GenerationItem]:
    return list(
        run.items.filter(status=ItemStatus.FAILED)
        .select_related("prompt", "endpoint")
        .order_by("id")[:limit]
    )
