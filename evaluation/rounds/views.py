"""Pages of rounds: start the next one, follow it to its verdict."""

from django.shortcuts import redirect, render

from annotation.models import Role
from annotation.selectors import (
    batch_choices,
    membership_list,
    project_get_for_lead,
    response_model_names,
)
from evaluation.exports.selectors import export_list
from evaluation.generation.selectors import generation_run_progress, model_endpoints_offered
from evaluation.leaderboard import charts, leaderboard_figures
from evaluation.models import ExportStatus
from evaluation.rounds.selectors import (
    round_generation_problem,
    round_get_for_lead,
    round_list,
    round_result,
    round_results,
)
from evaluation.rounds.services import round_start
from ftapp.pages import flash_errors, int_or_none, object_page


@object_page(project_get_for_lead, "project_id")
def round_new(request, project):
    if request.method == "POST":
        with flash_errors(request):
            rnd = round_start(
                by=request.user,
                project_id=project.pk,
                model_id=int_or_none(request.POST.get("model")) or 0,
                export_id=int_or_none(request.POST.get("export")) or 0,
                previous_model=request.POST.get("previous_model", "").strip(),
                name=request.POST.get("name", "").strip(),
                annotators=request.POST.getlist("annotators"),
                overlap=int_or_none(request.POST.get("overlap")),
                fresh_batch_id=int_or_none(request.POST.get("fresh_batch")),
            )
            return redirect("round", round_id=rnd.pk)
        return redirect("round-new", project_id=project.pk)
    rounds = list(round_list(project=project)[:20])
    results = round_results(rounds=rounds)
    context = {
        "project": project,
        "rounds": [(rnd, results[rnd.pk]) for rnd in rounds],
        "endpoints": model_endpoints_offered(user=request.user),
        "exports": export_list(project=project, status=ExportStatus.COMPLETED)[:50],
        "model_names": response_model_names(project=project),
        "annotators": membership_list(project=project, role=Role.ANNOTATOR),
        "batches": batch_choices(project=project),
    }
    return render(request, "evaluation/rounds.html", context)


@object_page(round_get_for_lead, "round_id")
def round_detail(request, rnd):
    run = rnd.generation_run
    result = round_result(rnd=rnd)
    progress = generation_run_progress(run=run) if run else None
    context = {
        "project": rnd.project,
        "round": rnd,
        "run": run,
        "progress": progress,
        "generating": run is not None and not run.ended,
        "problem": round_generation_problem(status=run.status, progress=progress)
        if run and progress
        else "",
        "result": result,
        "interval": charts.win_rate_interval(result),
    }
    if request.htmx:
        return render(request, "evaluation/partials/round_status.html", context)
    context["leaderboard"] = _round_leaderboard(rnd)
    return render(request, "evaluation/round.html", context)


def _round_leaderboard(rnd) -> dict | None:
    """The project's leaderboard restricted to the round: its prompts, its two models."""
    figures = leaderboard_figures(
        project=rnd.project,
        prompt_ids=rnd.prompt_ids,
        models=[rnd.model.name, rnd.previous_model],
    )
    if rnd.project.kind == "pairwise":
        rows = figures["pairwise"]["models"]
        if not rows:
            return None
        chart = charts.bradley_terry_chart(rows)
        return {"chart": chart, "label": "Bradley–Terry rating on the round's prompts"}
    rows = figures["ratings"]["models"]
    if not rows:
        return None
    return {"chart": charts.rating_chart(rows), "label": "Mean rating on the round's prompts"}
