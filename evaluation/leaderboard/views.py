"""The lead's evaluation pages: the model leaderboard and the agreement report, their charts
drawn server-side as SVG from the same figures the API serves."""

import math

from django.contrib import messages
from django.shortcuts import render

from annotation.selectors import batch_choices, project_get_for_lead, usernames_by_pseudonym
from evaluation.leaderboard import (
    RATING_SCALE,
    WINDOW_DAYS,
    WINDOW_DAYS_RANGE,
    agreement_figures,
    batch_ids_parse,
    charts,
    leaderboard_figures,
)
from ftapp.pages import flash_errors, object_page


def _batch_filter(request, project) -> list[int] | None:
    """The batches ticked in the page's filter; a bad value is reported and ignored."""
    with flash_errors(request):
        return batch_ids_parse(project=project, values=request.GET.getlist("batch"))
    return None


def _filter_context(project, batch_ids: list[int] | None) -> dict:
    return {
        "project": project,
        "batches": batch_choices(project=project),
        "selected_batches": set(batch_ids or ()),
    }


@object_page(project_get_for_lead, "project_id")
def leaderboard(request, project):
    batch_ids = _batch_filter(request, project)
    figures = leaderboard_figures(project=project, batch_ids=batch_ids)
    rated, paired = figures["ratings"], figures["pairwise"]
    context = {
        **_filter_context(project, batch_ids),
        "figures": figures,
        "rating_chart": None,
        "bt_chart": None,
        "heatmap": None,
    }
    if rated["models"]:
        context["rating_chart"] = charts.rating_chart(rated["models"])
    if paired["models"]:
        context["bt_chart"] = charts.bradley_terry_chart(paired["models"])
        rates = paired["win_rates"]
        context["heatmap"] = charts.heatmap(
            rates["models"], rates["rate"], rates["games"], rates["ties"]
        )
    return render(request, "evaluation/leaderboard.html", context)


def _window_days(request) -> float:
    """The drift window asked for, in days; out of range or not a number is reported and
    the default (a week) used instead."""
    raw = request.GET.get("window_days", "").strip()
    if not raw:
        return WINDOW_DAYS
    try:
        days = float(raw)
    except ValueError:
        days = math.nan
    low, high = WINDOW_DAYS_RANGE
    if not low <= days <= high:
        messages.error(request, f"The window is a number of days from {low:g} to {high:g}.")
        return WINDOW_DAYS
    return days


@object_page(project_get_for_lead, "project_id")
def agreement(request, project):
    batch_ids = _batch_filter(request, project)
    window_days = _window_days(request)
    figures = agreement_figures(project=project, batch_ids=batch_ids, window_days=window_days)
    usernames = usernames_by_pseudonym(project=project)
    annotators = []
    for row in figures["annotators"]:
        histogram = row["rating_histogram"]
        annotators.append(
            {
                **row,
                "username": usernames.get(row["annotator"], ""),
                "histogram_chart": charts.histogram(histogram, RATING_SCALE) if histogram else None,
            }
        )
    # A line needs two points: with one window there is a figure but no trend yet.
    over_time = [w for w in figures["over_time"]["windows"] if w["agreement"] is not None]
    context = {
        **_filter_context(project, batch_ids),
        "figures": figures,
        "annotators": annotators,
        "window_days": window_days,
        "over_time_points": len(over_time),
        "over_time_chart": charts.line_chart(over_time) if len(over_time) >= 2 else None,
        "histogram_chart": charts.histogram(
            figures["rating_histogram"], RATING_SCALE, width=200, height=60
        )
        if figures["rating_histogram"]
        else None,
    }
    return render(request, "evaluation/agreement.html", context)
