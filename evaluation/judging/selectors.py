"""Reads of the judge: judge prompt versions, judge runs and their progress, the newest
verdicts per judge. The verdicts pull is in ``evaluation.judging.feed``."""

from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum

from annotation.models import Project
from annotation.selectors import in_led_project
from evaluation.generation.selectors import generation_run_error, generation_runs_progress
from evaluation.judging.models import JudgePrompt, JudgeVerdict
from evaluation.models import GenerationItem, GenerationRun, ItemStatus, RunPurpose
from ftapp.errors import InvalidInput


def judge_prompt_current(*, project: Project) -> JudgePrompt | None:
    """The newest version, or None before the first is published."""
    return project.judge_prompts.order_by("-version").first()


def judge_prompt_versions(*, project: Project) -> QuerySet[JudgePrompt]:
    """Every published version, newest first, with who published it."""
    return project.judge_prompts.select_related("created_by").order_by("-version")


def judge_prompt_get(*, project: Project, version: int) -> JudgePrompt:
    """The version asked for; ``InvalidInput`` about ``prompt_version`` when there is none."""
    found = project.judge_prompts.filter(version=version).first()
    if found is None:
        raise InvalidInput(
            "No such judge prompt version.",
            fields={"prompt_version": [f"Version {version} was never published here."]},
        )
    return found


def judge_run_list(*, project: Project) -> QuerySet[GenerationRun]:
    """The project's judge runs, newest first, with their judge and prompt."""
    return (
        project.generation_runs.filter(purpose=RunPurpose.JUDGE)
        .select_related("judge_prompt")
        .prefetch_related("endpoints")
    )


def judge_run_get_for_lead(*, user: User, run_id: int) -> GenerationRun:
    """The judge run, if the user leads its project (404 outside it and for a generation
    run, 403 for the project's other members)."""
    run = (
        GenerationRun.objects.select_related("project", "judge_prompt")
        .filter(pk=run_id, purpose=RunPurpose.JUDGE)
        .first()
    )
    return in_led_project(run, user=user, name="judge run")


def judge_runs_progress(*, runs: Sequence[GenerationRun]) -> dict[int, dict[str, Any]]:
    """Each judge run's progress as a generation run's (items total, done, failed,
    remaining, tokens, retries, elapsed, ETA), with its verdicts: how many, and how many
    did not survive the swap."""
    progress = generation_runs_progress(runs=runs)
    verdicts = {
        row.pop("run_id"): row
        for row in JudgeVerdict.objects.filter(run__in=[run.pk for run in runs])
        .values("run_id")
        .annotate(
            verdicts=Count("id"),
            inconsistent=Count("id", filter=Q(consistent=False)),
            latency_ms=Sum("latency_ms"),
        )
    }
    for run in runs:
        counted = verdicts.get(run.pk, {})
        progress[run.pk]["verdicts"] = counted.get("verdicts", 0)
        progress[run.pk]["inconsistent"] = counted.get("inconsistent", 0)
        progress[run.pk]["latency_ms"] = counted.get("latency_ms") or 0
    return progress


def judge_run_failures(*, run: GenerationRun, limit: int = 100) -> list[GenerationItem]:
    """Its failed items, first first: the error and the judge's raw answer of each."""
    return list(
        run.items.filter(status=ItemStatus.FAILED).select_related("task").order_by("id")[:limit]
    )


def judge_run_verdicts(*, run: GenerationRun, limit: int = 100) -> list[JudgeVerdict]:
    """The run's verdicts in task order, the first ``limit``: what its page lists."""
    return list(run.verdicts.order_by("task_id")[:limit])


def judge_run_figures(*, run: GenerationRun) -> dict[str, Any]:
    """What the API and the judge page show beside a judge run's fields."""
    endpoint = run.endpoints.first()
    return {
        "judge": {"id": endpoint.pk, "name": endpoint.name} if endpoint else None,
        "prompt_version": run.judge_prompt.version if run.judge_prompt else None,
        "progress": judge_runs_progress(runs=[run])[run.pk],
        "failures": judge_run_failures(run=run),
        "error": generation_run_error(run=run),
    }


def judge_verdicts_latest(
    *, project: Project, endpoint_id: int | None = None, prompt_version: int | None = None
) -> QuerySet[JudgeVerdict]:
    """The newest verdict of each judge (endpoint and judge prompt version) on each task:
    what calibration and exports count, a task judged again by the same judge counting once."""
    verdicts = JudgeVerdict.objects.filter(project=project)
    if endpoint_id is not None:
        verdicts = verdicts.filter(endpoint_id=endpoint_id)
    if prompt_version is not None:
        verdicts = verdicts.filter(judge_prompt__version=prompt_version)
    newer = JudgeVerdict.objects.filter(
        endpoint=OuterRef("endpoint"),
        judge_prompt=OuterRef("judge_prompt"),
        task=OuterRef("task"),
        id__gt=OuterRef("id"),
    )
    return verdicts.exclude(Exists(newer))


def judges_with_verdicts(*, project: Project) -> list[dict[str, Any]]:
    """The judges (endpoints) with verdicts in the project, by name, each with the judge
    prompt versions it gave them under, newest first: what an export may take labels from."""
    rows = (
        JudgeVerdict.objects.filter(project=project)
        .values_list("endpoint_id", "endpoint__name", "judge_prompt__version")
        .distinct()
        .order_by("endpoint__name", "endpoint_id", "-judge_prompt__version")
    )
    judges: dict[int, dict[str, Any]] = {}
    for endpoint_id, name, version in rows:
        judge = judges.setdefault(endpoint_id, {"id": endpoint_id, "name": name, "versions": []})
        judge["versions"].append(version)
    return list(judges.values())
