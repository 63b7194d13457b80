"""Pages of exports: start one, follow it, cancel or retry it, read its card and its first
rows."""

import json

from django.shortcuts import redirect, render

from annotation.selectors import batch_choices, project_get_for_lead
from evaluation.exports.card import card_for_page
from evaluation.exports.options import (
    COMMON,
    HELP,
    JUDGE_OPTIONS,
    LABELS,
    PAIR_SOURCES,
    PER_KIND,
    RATING_PAIRS,
    TIE_POLICIES,
    export_options_clean,
    kind_default,
    kind_formats,
    option_groups,
    split_warnings,
)
from evaluation.exports.selectors import (
    export_get_for_lead,
    export_list,
    export_preview,
    export_progress,
)
from evaluation.exports.services.build import export_rows_expected
from evaluation.exports.services.jobs import export_cancel, export_retry, export_start
from evaluation.exports.source import tasks_to_read
from evaluation.judging.selectors import judge_prompt_current, judges_with_verdicts
from evaluation.models import ExportFormat, ExportKind, ExportStatus
from ftapp.errors import InvalidInput
from ftapp.pages import flash_errors, form_errors, in_words, object_page

CHECKBOXES = {"exclude_gold", "dedupe", "redact_pii", "include_rewrites", "judge_fill"}
NUMBERS = {
    "judge": int,
    "judge_prompt_version": int,
    "judge_min_agreement": float,
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


# Their errors are shown beside them; the others' above the form.
JUDGE_FIELDS = tuple(f"filters.{name}" for name in JUDGE_OPTIONS)


@object_page(project_get_for_lead, "project_id")
def export_new(request, project):
    if request.method == "POST":
        kind = request.POST.get("kind", "")
        failed: dict = {}
        with form_errors(failed, fields=JUDGE_FIELDS):
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
        context = _form_context(project, posted=request.POST)
        context["error"] = failed["error"]
        context["judge_errors"] = {
            name.removeprefix("filters."): found for name, found in failed["fields"].items()
        }
        return render(request, "evaluation/export_new.html", context, status=failed["status"])
    return render(request, "evaluation/export_new.html", _form_context(project))


def _form_context(project, posted=None) -> dict:
    """The page's list of exports and its form; after a refused export, the judge options
    as they were sent (the refusal is about them most often)."""
    posted = posted or {}
    current = judge_prompt_current(project=project)
    defaults = {**COMMON, **{k: v for d in PER_KIND.values() for k, v in d.items()}}
    kind_names = dict(ExportKind.choices)
    return {
        "project": project,
        "exports": export_list(project=project)[:50],
        "kinds": ExportKind.choices,
        "kind": kind_default(project.kind),
        "formats": [
            (value, label, " ".join(k for k in PER_KIND if value in kind_formats(k)))
            for value, label in ExportFormat.choices
        ],
        "batches": batch_choices(project=project),
        "defaults": defaults,
        "labels": LABELS,
        "kind_groups": [
            {
                "kinds": " ".join(kinds),
                "legend": " and ".join(kind_names[k] for k in kinds),
                "fields": [_field(name, defaults[name]) for name in names],
            }
            for kinds, names in option_groups()
        ],
        "expected": _rows_expected(project),
        "help": HELP,
        "judges": judges_with_verdicts(project=project),
        "judge_prompt_current": current.version if current else None,
        "judge_posted": {name: posted.get(name, "") for name in JUDGE_OPTIONS},
    }


# How the form asks for each option of a particular kind (the options and their kinds are
# evaluation.exports.options's).
FIELDS: dict[str, dict] = {
    "sft_min_rating": {"input": "number", "min": 1, "max": 5, "step": 0.5},
    "per_prompt": {"input": "number", "min": 1, "max": 100, "step": 1},
    "include_rewrites": {"input": "checkbox"},
    "pairs_from": {"input": "checkboxes", "choices": PAIR_SOURCES},
    "margin": {"input": "number", "min": 0, "max": 4, "step": 0.5},
    "rating_pairs": {"input": "select", "choices": RATING_PAIRS},
    "tie_policy": {"input": "select", "choices": TIE_POLICIES},
    "kto_desirable_min": {"input": "number", "min": 1, "max": 5, "step": 0.5},
    "kto_undesirable_max": {"input": "number", "min": 1, "max": 5, "step": 0.5},
}
PAIR_SOURCE_WORDS = {
    "pairwise": "pairwise majority",
    "ratings": "rating margins",
    "rewrites": "rewrites over originals",
}


def _field(name: str, default) -> dict:
    field = {"name": name, "label": LABELS[name], "default": default, **FIELDS[name]}
    if "choices" in field:
        words = PAIR_SOURCE_WORDS if name == "pairs_from" else {}
        field["choices"] = [(c, words.get(c, in_words(c))) for c in field["choices"]]
    return field


# Counting the rows reads what a build reads, once per kind: past this many judged tasks it
# would slow every visit of the page down, and the card warns once the export is built.
EXPECTED_ROWS_MAX_TASKS = 20_000


def _rows_expected(project) -> list[dict] | None:
    """What the judgments as they are now would give per kind, with the default options, the
    default test fraction and seed: counted by the build's own reading and selection. None
    for a project too large to count on every visit."""
    common = export_options_clean(kind="judgments", format="trl", filters={})
    if tasks_to_read(project_id=project.pk, options=common) > EXPECTED_ROWS_MAX_TASKS:
        return None
    expected = []
    for kind, label in ExportKind.choices:
        options = export_options_clean(kind=kind, format="trl", filters={})
        rows = export_rows_expected(
            project=project, kind=kind, options=options, test_fraction=0.1, seed=0
        )
        warnings = split_warnings(rows, test_fraction=0.1)
        expected.append({"kind": kind, "label": label, "rows": rows, "warnings": warnings})
    return expected


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
        "card": card_for_page(export.card, project_kind=export.project.kind)
        if export.status == ExportStatus.COMPLETED and export.card
        else None,
        "preview": [
            json.dumps(row, ensure_ascii=False, indent=1) for row in export_preview(export=export)
        ],
    }
    if request.htmx:
        return render(request, "evaluation/partials/export_status.html", context)
    return render(request, "evaluation/export.html", context)
