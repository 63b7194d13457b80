"""Pages of the model side: the model registry and generation runs."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotation.selectors import batch_choices, project_get_for_lead
from evaluation.generation import local_model
from evaluation.generation.model_keys import PREFIX, key_variable_problem
from evaluation.generation.selectors import (
    generation_run_figures,
    generation_run_get_for_lead,
    generation_run_list,
    model_endpoint_get_for_manager,
    model_endpoint_list,
    model_endpoints_manageable,
    model_endpoints_offered,
)
from evaluation.generation.services.endpoints import (
    model_endpoint_create,
    model_endpoint_test,
    model_endpoint_update,
)
from evaluation.generation.services.runs import (
    generation_run_cancel,
    generation_run_resume,
    generation_run_start,
)
from evaluation.models import TaskCreation
from ftapp import json_input
from ftapp.pages import flash_errors, for_page, form_errors, int_or_none, object_page


def _local_model_note() -> dict[str, str]:
    """The local base model answers poorly: the pages say so beside it, so nobody mistakes
    its output for a real candidate."""
    return {"local_model_id": local_model.MODEL_ID, "local_model_label": local_model.LABEL}


def _endpoint_fields(post) -> dict:
    """A model's server, model id, key variable and concurrency as its form gives them."""
    return {
        "name": post.get("name", "").strip(),
        "base_url": post.get("base_url", "").strip(),
        "model": post.get("model", "").strip(),
        "api_key_env": post.get("api_key_env", "").strip(),
        "max_concurrency": int_or_none(post.get("max_concurrency")) or 4,
    }


@login_required
def model_list(request):
    endpoints = list(for_page(model_endpoint_list, user=request.user))
    may_register = model_endpoints_manageable(user=request.user)
    context = {
        "endpoints": endpoints,
        "may_register": may_register,
        "key_prefix": PREFIX,
        "key_variables": [
            name for name in settings.MODEL_KEY_VARIABLES if not key_variable_problem(name)
        ],
        **_local_model_note(),
    }
    if request.method == "POST":
        if not may_register:
            raise PermissionDenied("You may not register models.")
        try:
            params = json_input.loads(request.POST.get("params") or "{}")
            if not isinstance(params, dict):
                raise ValueError
        except ValueError:
            messages.error(request, 'Parameters must be a JSON object, e.g. {"temperature": 0.7}.')
            return redirect("models")
        with flash_errors(request):
            endpoint = model_endpoint_create(
                by=request.user, params=params, **_endpoint_fields(request.POST)
            )
            messages.success(request, f"Registered {endpoint.name}. Test its connection below.")
        return redirect("models")
    return render(request, "evaluation/models.html", context)


@login_required
@require_POST
def model_test(request, endpoint_id: int):
    result = for_page(model_endpoint_test, by=request.user, endpoint_id=endpoint_id)
    if result["ok"]:
        offered = ", ".join(result["models"]) or "no model"
        if result["models_more"]:
            offered += f" and {result['models_more']} more"
        messages.success(
            request,
            f"{result['endpoint']}: the server offers {offered}; a test request answered "
            f"HTTP 200 in {result['latency_ms']} ms: “{result['sample']}”",
        )
    else:
        messages.error(request, f"{result['endpoint']}: {result['error']}")
    return redirect("models")


@object_page(model_endpoint_get_for_manager, "endpoint_id")
def model_edit(request, endpoint):
    """A registered model's server, model id, key variable and limits, changed in place."""
    context: dict = {"endpoint": endpoint, "key_prefix": PREFIX}
    if request.method == "POST":
        with form_errors(context, fields=("name", "base_url", "model", "api_key_env")):
            model_endpoint_update(
                by=request.user, endpoint_id=endpoint.pk, **_endpoint_fields(request.POST)
            )
            messages.success(request, "Model saved. Test its connection below.")
            return redirect("models")
    return render(request, "evaluation/model_edit.html", context)


@login_required
@require_POST
def model_retire(request, endpoint_id: int):
    """Retires a model (``action=retire``) or brings it back (``action=restore``)."""
    retired = request.POST.get("action") == "retire"
    endpoint = for_page(
        model_endpoint_update, by=request.user, endpoint_id=endpoint_id, retired=retired
    )
    if retired:
        messages.success(request, f"{endpoint.name} is retired: no new run or round uses it.")
    else:
        messages.success(request, f"{endpoint.name} is offered for new runs and rounds again.")
    return redirect("models")


@object_page(project_get_for_lead, "project_id")
def run_new(request, project):
    context = {
        "project": project,
        "endpoints": model_endpoints_offered(user=request.user),
        "batches": batch_choices(project=project),
        "runs": generation_run_list(project=project)[:20],
        "creation": TaskCreation.choices,
        **_local_model_note(),
    }
    if request.method == "POST":
        params = {}
        for key, cast in (("temperature", float), ("max_tokens", int), ("seed", int)):
            raw = request.POST.get(key, "").strip()
            if raw:
                try:
                    params[key] = cast(raw)
                except ValueError:
                    messages.error(request, f"{key} must be a number.")
                    return redirect("run-new", project_id=project.pk)
        scope = request.POST.get("scope", "all")
        selection = {"scope": scope}
        if scope == "batch":
            selection["batch_id"] = int_or_none(request.POST.get("batch_id"))
        with flash_errors(request):
            run = generation_run_start(
                by=request.user,
                project_id=project.pk,
                endpoint_ids=[int(i) for i in request.POST.getlist("models") if i.isdigit()],
                samples=int_or_none(request.POST.get("samples")) or 1,
                params=params,
                selection=selection,
                create_tasks=request.POST.get("create_tasks", TaskCreation.ON_FINISH),
                target_batch_id=int_or_none(request.POST.get("target_batch")),
            )
            return redirect("run", run_id=run.pk)
        return redirect("run-new", project_id=project.pk)
    return render(request, "evaluation/run_new.html", context)


@object_page(generation_run_get_for_lead, "run_id")
def run_detail(request, run):
    if request.method == "POST":
        with flash_errors(request):
            if request.POST.get("action") == "cancel":
                generation_run_cancel(by=request.user, run_id=run.pk)
            elif request.POST.get("action") == "resume":
                generation_run_resume(
                    by=request.user, run_id=run.pk, retry_failed=bool(request.POST.get("retry"))
                )
        return redirect("run", run_id=run.pk)
    context = {"project": run.project, "run": run, **generation_run_figures(run=run)}
    template = "evaluation/partials/run_progress.html" if request.htmx else "evaluation/run.html"
    return render(request, template, context)
