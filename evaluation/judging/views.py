"""The judge's pages, for a project's leads: the judge prompt (edited, previewed on a real
task, published as a new version), judge runs started over a selection of tasks, their
progress, verdicts and failed requests, and the judge's calibration against the experts."""

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from annotation.models import Choice, Project, ProjectKind, Task
from annotation.selectors import batch_choices, project_get_for_lead
from evaluation.generation.selectors import model_endpoints_offered
from evaluation.generation.services.runs import generation_run_cancel, generation_run_resume
from evaluation.judging.calibration import judge_calibration_page
from evaluation.judging.protocol import (
    PLACEHOLDERS,
    judge_messages,
    judge_prompt_default,
    judge_template_problems,
)
from evaluation.judging.selectors import (
    judge_prompt_current,
    judge_prompt_versions,
    judge_run_figures,
    judge_run_get_for_lead,
    judge_run_list,
    judge_run_verdicts,
    judge_runs_progress,
)
from evaluation.judging.services.prompts import judge_prompt_publish
from evaluation.judging.services.runs import judge_run_start
from evaluation.models import GenerationRun, JudgePrompt
from ftapp.errors import InvalidInput
from ftapp.pages import flash_errors, form_errors, int_or_none, object_page

# How much of a failed request's answer its row shows: enough to see why it did not parse.
RAW_SHOWN = 500
# How much of a verdict's rationale its row shows, and how many verdicts the run page lists.
RATIONALE_SHOWN = 300
VERDICTS_LISTED = 100
PROMPT_FIELDS = ("system", "template", "change_note")
RUN_FIELDS = ("judge", "prompt_version", "selection")
SCOPES = ("judged", "batch", "filter", "ids")


def _preview(project: Project, *, system: str, template: str, task_raw: str, source: str):
    """The messages the judge would be sent for one task of the project, in each order the
    task is asked in; no model is called. ``error`` says why there is nothing to show."""
    preview: dict[str, Any] = {"source": source, "orders": [], "task": None, "error": ""}
    task_id = int_or_none(task_raw.strip())
    tasks = Task.objects.filter(project=project).select_related(
        "prompt", "response_a", "response_b", "project"
    )
    if task_raw.strip() and task_id is None:
        preview["error"] = "A task is named by its id, a whole number."
        return preview
    task = tasks.filter(pk=task_id).first() if task_id else tasks.order_by("id").first()
    if task is None:
        preview["error"] = (
            f"The project has no task {task_id}."
            if task_id
            else "The project has no task yet: import prompts with their responses first."
        )
        return preview
    preview["task"] = task
    problems = judge_template_problems(kind=project.kind, template=template)
    if problems:
        preview["error"] = " ".join(problems)
        return preview
    prompt = JudgePrompt(project=project, system=system, template=template)
    orders = [False, True] if task.kind == ProjectKind.PAIRWISE else [False]
    for swapped in orders:
        title = "Asked as given" if not swapped else "Asked swapped"
        if task.kind == ProjectKind.PAIRWISE:
            title += " (the task's B shown first, as A)" if swapped else " (A first)"
        preview["orders"].append(
            {
                "title": title,
                "messages": judge_messages(judge_prompt=prompt, task=task, swapped=swapped),
            }
        )
    return preview


# The judge page lists this many runs, newest first; older ones stay on the API.
RUNS_LISTED = 20


def _runs(project: Project) -> dict[str, Any]:
    runs = list(judge_run_list(project=project)[:RUNS_LISTED])
    progress = judge_runs_progress(runs=runs)
    rows = [{"run": run, "progress": progress[run.pk]} for run in runs]
    return {"runs": rows, "runs_working": any(not run.ended for run in runs)}


def _home(request: HttpRequest, project: Project, **shown: Any) -> HttpResponse:
    """The judge's page; ``shown`` holds what a failed or previewed form gives back."""
    current = judge_prompt_current(project=project)
    versions = list(judge_prompt_versions(project=project))
    editing = None
    if "system" not in shown:
        asked = int_or_none(request.GET.get("version"))
        chosen = next((v for v in versions if v.version == asked), None) or current
        if chosen is not None:
            shown["system"], shown["template"] = chosen.system, chosen.template
            editing = chosen.version if chosen != current else None
        else:
            shown["system"], shown["template"] = judge_prompt_default(project=project)
    task_raw = shown.pop("task_raw", request.GET.get("task", ""))
    source = (
        "Your draft"
        if shown.pop("draft", False)
        else f"Version {editing or current.version}"
        if current
        else "The proposed prompt"
    )
    context = {
        "project": project,
        "kind": project.kind,
        "rating": project.kind == ProjectKind.RATING,
        "current": current,
        "versions": versions,
        "editing_version": editing,
        "placeholders": PLACEHOLDERS[ProjectKind(project.kind)],
        "preview_task_raw": task_raw,
        "preview": _preview(
            project,
            system=shown["system"],
            template=shown["template"],
            task_raw=task_raw,
            source=source,
        ),
        "endpoints": model_endpoints_offered(user=request.user),
        "batches": batch_choices(project=project),
        "run_chosen": {"scope": "judged", "prompt_version": current and current.version},
        "change_note": "",
        "calibration": judge_calibration_page(project=project, query=request.GET),
        **_runs(project),
        **shown,
    }
    return render(request, "evaluation/judge/home.html", context)


@object_page(project_get_for_lead, "project_id")
@require_http_methods(["GET", "POST"])
def judge_home(request, project):
    """The judge prompt's editor, preview and versions, the form that starts a run, the
    runs. A POST previews the draft (``action=preview``) or publishes it."""
    if request.method == "GET":
        return _home(request, project)
    draft = {name: request.POST.get(name, "") for name in PROMPT_FIELDS}
    task_raw = request.POST.get("task", "")
    if request.POST.get("action") != "publish":
        return _home(request, project, draft=True, task_raw=task_raw, **draft)
    errors: dict[str, Any] = {}
    with form_errors(errors, fields=PROMPT_FIELDS):
        published = judge_prompt_publish(by=request.user, project_id=project.pk, **draft)
        messages.success(
            request,
            f"Published version {published.version} of the judge prompt; new judge runs use it.",
        )
        return redirect(f"{request.path}#prompt")
    return _home(
        request,
        project,
        draft=True,
        task_raw=task_raw,
        prompt_error=errors["error"] or "The judge prompt was not published.",
        prompt_fields=errors["fields"],
        **draft,
    )


def _selection(post: QueryDict) -> dict[str, Any]:
    """The tasks the form names, as ``judge_run_start`` takes them."""
    scope = post.get("scope", "")
    if scope == "batch":
        return {"scope": "batch", "batch_id": int_or_none(post.get("batch_id"))}
    if scope == "filter":
        # The Data page's whole address is accepted as well as its query string.
        query = post.get("query", "").strip().partition("?")
        query_string = query[2] if query[1] else query[0]
        params = QueryDict(query_string)
        # One value a name, as the API takes it; a name given again (meta) keeps them all.
        return {
            "scope": "filter",
            "query": {
                key: values[0] if len(values) == 1 else values for key, values in params.lists()
            },
        }
    if scope == "ids":
        words = post.get("task_ids", "").replace(",", " ").split()
        if not words or not all(word.isdigit() for word in words):
            raise InvalidInput(
                "Name the tasks.", fields={"selection": ["Task ids, separated by commas."]}
            )
        return {"scope": "ids", "task_ids": [int(word) for word in words]}
    return {"scope": scope}


@object_page(project_get_for_lead, "project_id")
@require_http_methods(["GET", "POST"])
def judge_runs(request, project):
    """The project's judge runs (what the judge page polls while one works); a POST starts
    one and opens its page."""
    if request.method == "GET":
        if request.htmx:
            return render(
                request,
                "evaluation/judge/partials/runs.html",
                {"project": project, **_runs(project)},
            )
        return redirect(reverse("judge", args=[project.pk]) + "#judge-runs")
    chosen = {
        "judge": int_or_none(request.POST.get("judge")),
        "prompt_version": int_or_none(request.POST.get("prompt_version")),
        "scope": request.POST.get("scope", ""),
        "batch_id": int_or_none(request.POST.get("batch_id")),
        "query": request.POST.get("query", ""),
        "task_ids": request.POST.get("task_ids", ""),
    }
    errors: dict[str, Any] = {}
    with form_errors(errors, fields=RUN_FIELDS):
        run = judge_run_start(
            by=request.user,
            project_id=project.pk,
            endpoint_id=chosen["judge"],
            prompt_version=chosen["prompt_version"],
            selection=_selection(request.POST),
        )
        return redirect("judge-run", run_id=run.pk)
    return _home(
        request,
        project,
        run_chosen=chosen,
        run_error=errors["error"] or "Nothing was started.",
        run_fields=errors["fields"],
    )


def _selection_words(run: GenerationRun) -> str:
    """The tasks the run was asked to judge, as the lead chose them."""
    selection = run.selection or {}
    scope = selection.get("scope")
    if scope == "judged":
        return "Tasks humans judged"
    if scope == "batch":
        batch_id = selection.get("batch_id") or 0
        batch = batch_choices(project=run.project).filter(pk=batch_id).first()
        return f"The tasks of batch {batch.name}" if batch else "The tasks of a batch since deleted"
    if scope == "filter":
        query = QueryDict(mutable=True)
        for key, value in (selection.get("query") or {}).items():
            query.setlist(key, value if isinstance(value, list) else [value])
        return f"Tasks matching {query.urlencode() or 'no filter (every task)'}"
    count = len(selection.get("task_ids") or [])
    return f"{count} task{'' if count == 1 else 's'} named by id"


def _verdict_rows(run: GenerationRun) -> list[dict[str, Any]]:
    """The run's first verdicts, each with its choice, and the choice of each order, in words."""
    rows = []
    for verdict in judge_run_verdicts(run=run, limit=VERDICTS_LISTED):
        orders = zip(verdict.order_choices, ("as given", "swapped"), strict=False)
        rows.append(
            {
                "verdict": verdict,
                "choice_words": Choice(verdict.choice).label if verdict.choice else "",
                "order_words": ", then ".join(f"{choice} {when}" for choice, when in orders),
            }
        )
    return rows


@object_page(judge_run_get_for_lead, "run_id")
def judge_run_detail(request, run):
    if request.method == "POST":
        with flash_errors(request):
            if request.POST.get("action") == "cancel":
                generation_run_cancel(by=request.user, run_id=run.pk)
            elif request.POST.get("action") == "resume":
                generation_run_resume(
                    by=request.user, run_id=run.pk, retry_failed=bool(request.POST.get("retry"))
                )
        return redirect("judge-run", run_id=run.pk)
    context = {
        "project": run.project,
        "kind": run.project.kind,
        "run": run,
        "raw_limit": RAW_SHOWN,
        "selection_words": _selection_words(run),
        "rationale_limit": RATIONALE_SHOWN,
        "verdicts": _verdict_rows(run),
        **judge_run_figures(run=run),
    }
    if request.htmx:
        return render(request, "evaluation/judge/partials/run_progress.html", context)
    return render(request, "evaluation/judge/run.html", context)
