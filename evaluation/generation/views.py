"""Pages of the model side: the model registry and generation runs."""


from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotation.views.lead import for_page, int_or_none, lead_page
from evaluation.generation import local_model
from evaluation.generation.model_keys import PREFIX, key_variable_problem
from evaluation.generation.selectors import (
    generation_run_error,
    generation_run_failures,
    generation_run_get_for_lead,
    generation_run_progress,
    model_endpoint_list,
)
from evaluation.generation.services import (
    generation_run_cancel,
    generation_run_resume,
    generation_run_start,
    model_endpoint_create,
    model_endpoint_test,
)
from evaluation.models import ModelEndpoint, TaskCreation
from ftapp import json_input
from ftapp.errors import DomainError


def _error_text(error: Exception) -> str:
    """A message naming each field at fault, as the API's error does."""
    if isinstance(error, ValidationError) and hasattr(error, "error_dict"):
        return "; ".join(
            " ".join(messages) if field == "__all__" else f"{field}: {' '.join(messages)}"
            for field, messages in error.message_dict.items()
        )
    if isinstance(error, ValidationError):
        return "; ".join(error.messages)
    return str(error)


def _local_model_note() -> dict[str, str]:
    """The local base model answers poorly: the pages say so beside it, so nobody mistakes
    its output for a real candidate."""
    return {"local_model_id": local_model.MODEL_ID, "local_model_label": local_model.LABEL}


@login_required
def model_list(request):
    try:
        endpoints = list(model_endpoint_list(user=request.user))
    except DomainError as error:
        raise PermissionDenied(error.message) from None
    may_register = request.user.has_perm("evaluation.add_modelendpoint")
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
        try:
            endpoint = model_endpoint_create(
                by=request.user,
                name=request.POST.get("name", "").strip(),
                base_url=request.POST.get("base_url", "").strip(),
                model=request.POST.get("model", "").strip(),
                api_key_env=request.POST.get("api_key_env", "").strip(),
                max_concurrency=int_or_none(request.POST.get("max_concurrency")) or 4,
                params=params,
            )
        except (DomainError, ValidationError) as error:
            messages.error(request, _error_text(error))
        else:
            messages.success(request, f"Registered {endpoint.name}. Test its connection below.")
        return redirect("models")
    return render(request, "evaluation/models.html", context)


@login_required
@require_POST
def model_test(request, endpoint_id: int):
    try:
        result = model_endpoint_test(by=request.user, endpoint_id=endpoint_id)
    except DomainError as error:
        if error.status == 404:
            raise Http404 from None
        raise PermissionDenied(error.message) from None
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


@lead_page
def run_new(request, project):
    context = {
        "project": project,
        "endpoints": ModelEndpoint.objects.all(),
        "batches": project.batches.order_by("position"),
        "runs": project.generation_runs.prefetch_related("endpoints")[:20],
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
        try:
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
        except DomainError as error:
            messages.error(request, str(error))
            return redirect("run-new", project_id=project.pk)
        return redirect("run", run_id=run.pk)
    return render(request, "evaluation/run_new.html", context)


@login_required
def run_detail(request, run_id: int):
    run = for_page(generation_run_get_for_lead, user=request.user, run_id=run_id)
    if request.method == "POST":
        try:
            if request.POST.get("action") == "cancel":
                generation_run_cancel(by=request.user, run_id=run.pk)
            elif request.POST.get("action") == "resume":
                generation_run_resume(
                    by=request.user, run_id=run.pk, retry_failed=bool(request.POST.get("retry"))
                )
        except DomainError as error:
            messages.error(request, error.message)
        return redirect("run", run_id=run.pk)
    context = {
        "project": run.project,
        "run": run,
        "models": sorted(run.endpoints.values_list("name", flat=True)),
        "progress": generation_run_progress(run=run),
        "failures": generation_run_failures(run=run),
        "error": generation_run_error(run=run),
    }
    template = "evaluation/partials/run_progress.html" if request.htmx else "evaluation/run.html"
    return render(request, template, context)
