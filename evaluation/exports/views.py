"""Pages of exports: start one, follow it, cancel or retry it, read its card and its first
rows."""

import json

from django.shortcuts import redirect, render

from annotation.selectors import batch_choices, project_get_for_lead
from evaluation.exports.options import COMMON, PER_KIND, RATING_PAIRS, TIE_POLICIES
from evaluation.exports.selectors import (
    export_card,
    export_get_for_lead,
    export_list,
    export_preview,
    export_progress,
)
from evaluation.exports.services.jobs import export_cancel, export_retry, export_start
from evaluation.models import ExportFormat, ExportKind, ExportStatus
from ftapp.errors import InvalidInput
from ftapp.pages import flash_errors, form_errors, object_page

CHECKBOXES = {"exclude_gold", "dedupe", "redact_pii", "include_rewrites"}
NUMBERS = {
    "min_judgments": int,
    "per_prompt": int,
    "min_agreement": float,
    "min_gold_accuracy": float,
    "sft_min_rating": float,
    "margin": float,
    "kto_desirable_min": float,
    "kto_undesirable_max": float,
}


def _filters_from_form(post, kind: str) -> dict:
    """The form's fields for the options this kind knows; blank fields keep the default."""
    known = {**COMMON, **PER_KIND.get(kind, {})}
    filters: dict = {}
    for key in known:
        if key in CHECKBOXES:
            filters[key] = post.get(key) == "on"
        elif key in NUMBERS:
            raw = post.get(key, "").strip()
            if raw:
                try:
                    filters[key] = NUMBERS[key](raw)
                except ValueError:
                    raise InvalidInput(f"{key} must be a number.") from None
        elif key in ("rating_pairs", "tie_policy") and post.get(key):
            filters[key] = post[key]
        elif key == "pairs_from":
            filters[key] = post.getlist("pairs_from")
        elif key == "batches":
            filters[key] = [int(b) for b in post.getlist("batches") if b.isdigit()]
        elif key == "models":
            filters[key] = [m.strip() for m in post.get("models", "").split(",") if m.strip()]
        elif key in ("judged_after", "judged_before") and post.get(key):
            filters[key] = post[key]
    return filters


@object_page(project_get_for_lead, "project_id")
def export_new(request, project):
    if request.method == "POST":
        kind = request.POST.get("kind", "")
        with flash_errors(request):
            try:
                export = export_start(
                    by=request.user,
                    project_id=project.pk,
                    kind=kind,
                    format=request.POST.get("format", "trl"),
                    filters=_filters_from_form(request.POST, kind),
                    test_fraction=float(request.POST.get("test_fraction") or 0.1),
                    seed=int(request.POST.get("seed") or 0),
                )
            except ValueError:
                raise InvalidInput("The test fraction and the seed must be numbers.") from None
            return redirect("export", export_id=export.pk)
        return redirect("export-new", project_id=project.pk)
    context = {
        "project": project,
        "exports": export_list(project=project)[:50],
        "kinds": ExportKind.choices,
        "formats": ExportFormat.choices,
        "batches": batch_choices(project=project),
        "rating_pairs": RATING_PAIRS,
        "tie_policies": TIE_POLICIES,
        "defaults": {**COMMON, **{k: v for d in PER_KIND.values() for k, v in d.items()}},
    }
    return render(request, "evaluation/export_new.html", context)


ACTIONS = {"cancel": export_cancel, "retry": export_retry}


@object_page(export_get_for_lead, "export_id")
def export_detail(request, export):
    failed: dict = {}
    if request.method == "POST":
        action = ACTIONS.get(request.POST.get("action", ""))
        # The status partial shows the error in place; a plain page shows it after the redirect.
        with form_errors(failed) if request.htmx else flash_errors(request):
            if action is None:
                raise InvalidInput("Unknown action: cancel or retry.")
            export = action(by=request.user, export_id=export.pk)
        if not request.htmx:
            return redirect("export", export_id=export.pk)
    finished = export.status not in (ExportStatus.QUEUED, ExportStatus.RUNNING)
    context = {
        "project": export.project,
        "export": export,
        "finished": finished,
        "action_error": failed.get("error", ""),
        "progress": export_progress(export=export),
        "card_md": export_card(export=export),
        "preview": [
            json.dumps(row, ensure_ascii=False, indent=1) for row in export_preview(export=export)
        ],
    }
    if request.htmx:
        return render(request, "evaluation/partials/export_status.html", context)
    return render(request, "evaluation/export.html", context)
