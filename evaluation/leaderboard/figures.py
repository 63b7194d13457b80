"""The evaluation figures (SPEC step 7) from a project's judgments: the leaderboard and the
agreement report, computed by the pure functions of ``evaluation.stats``. They come out as
plain JSON (``None`` where a figure is undefined, never NaN), the same for the API, the pages
and the rounds. Annotators appear under their project pseudonym, never their username."""

import math
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

import numpy as np

from annotation.choices import CHOICES
from annotation.models import Batch, Project, ProjectKind
from evaluation import stats
from evaluation.leaderboard.games import battles, settled_ratings
from evaluation.leaderboard.loading import (
    NO_GROUP,
    Judgments,
    gold_results_load,
    judgments_load,
    self_consistency_load,
)
from evaluation.stats.agreement import Level
from ftapp.errors import InvalidInput

N_BOOT = 200
SEED = 0
LEVEL = 0.95
DAY = 86_400.0
RATING_SCALE = (1, 2, 3, 4, 5)
# Bradley-Terry ratings are shown Elo-style: mean 1000, 400 points for odds of ten to one.
ELO_BASE = 1000.0
ELO_SCALE = 400.0
# Drift and agreement over time, per window of this many days (a week unless asked).
WINDOW_DAYS = 7.0
WINDOW_DAYS_RANGE = (0.25, 366.0)


def _number(value: float | None) -> float | None:
    """JSON has no NaN: an undefined figure is None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def _tied_with(estimates: list[stats.Estimate], names: list[str]) -> dict[int, list[str]]:
    """For each model code, the models whose intervals overlap its own: read as tied."""
    tied: dict[int, list[str]] = {e.model: [] for e in estimates}
    for x, y in stats.overlapping_pairs(estimates):
        tied[x].append(names[y])
        tied[y].append(names[x])
    return {code: sorted(others) for code, others in tied.items()}


def _rating_board(data: Judgments, n_boot: int, seed: int) -> dict:
    """Per model: the mean of its tasks' settled scores (the adjudicated rating, else the
    judgments' mean), with a bootstrap interval resampling prompts."""
    empty = {"models": [], "tasks": 0, "adjudicated": 0, "judgments": 0}
    if data.kind != ProjectKind.RATING or not (len(data.task) or len(data.adjudicated_task)):
        return empty
    settled, model, prompt = settled_ratings(data)
    estimates = stats.mean_ratings(
        model, settled.score, cluster=prompt, n_boot=n_boot, seed=seed, level=LEVEL
    )
    judged = np.bincount(data.model_a, minlength=len(data.models))
    tied = _tied_with(estimates, data.models)
    return {
        "models": [
            {
                "model": data.models[e.model],
                "mean": _number(e.value),
                "lower": _number(e.lower),
                "upper": _number(e.upper),
                "tasks": e.n,
                "judgments": int(judged[e.model]),
                "rank": e.rank,
                "tied_with": tied[e.model],
            }
            for e in estimates
        ],
        "tasks": len(settled.units),
        "adjudicated": int(settled.adjudicated.sum()),
        "judgments": len(data.task),
    }


def _pairwise_board(data: Judgments, n_boot: int, seed: int) -> dict:
    empty = {
        "models": [],
        "battles": 0,
        "judgments": 0,
        "adjudicated": 0,
        "connected": True,
        "win_rates": {"models": [], "rate": [], "games": [], "ties": []},
    }
    if data.kind != ProjectKind.PAIRWISE or not (len(data.task) or len(data.adjudicated_task)):
        return empty
    fought = battles(data)
    model_a, model_b, score, judgments = (
        fought.model_a,
        fought.model_b,
        fought.score,
        fought.judgments,
    )
    fit = stats.bradley_terry(
        model_a,
        model_b,
        score,
        n_boot=n_boot,
        seed=seed,
        level=LEVEL,
        scale=ELO_SCALE,
        base=ELO_BASE,
    )
    order = [e.model for e in fit.estimates]
    k = len(order)
    rates = stats.win_rates(model_a, model_b, score, models=order)
    position = np.full(len(data.models), -1, dtype=np.int64)
    position[order] = np.arange(k)
    a, b = position[model_a], position[model_b]
    tie = (score == 0.5).astype(float)
    ties = np.bincount(a * k + b, weights=tie, minlength=k * k).reshape(k, k)
    ties = (ties + ties.T).astype(np.int64)
    wins = np.bincount(a, weights=score == 1.0, minlength=k)
    wins += np.bincount(b, weights=score == 0.0, minlength=k)
    drawn = np.bincount(a, weights=tie, minlength=k) + np.bincount(b, weights=tie, minlength=k)
    tied = _tied_with(fit.estimates, data.models)
    rows = []
    for i, e in enumerate(fit.estimates):
        rows.append(
            {
                "model": data.models[e.model],
                "rating": _number(e.value),
                "lower": _number(e.lower),
                "upper": _number(e.upper),
                "battles": e.n,
                "wins": int(wins[i]),
                "ties": int(drawn[i]),
                "losses": int(e.n - wins[i] - drawn[i]),
                "rank": e.rank,
                "tied_with": tied[e.model],
            }
        )
    return {
        "models": rows,
        "battles": len(score),
        "judgments": judgments,
        "adjudicated": len(data.adjudicated_task),
        "connected": fit.connected,
        "win_rates": {
            "models": [data.models[code] for code in order],
            "rate": [[_number(x) for x in row] for row in rates.rate.tolist()],
            "games": rates.games.astype(int).tolist(),
            "ties": ties.tolist(),
        },
    }


def leaderboard_figures(
    *,
    project: Project,
    batch_ids: Collection[int] | None = None,
    prompt_ids: Collection[int] | None = None,
    models: Collection[str] | None = None,
    n_boot: int = N_BOOT,
    seed: int = SEED,
) -> dict:
    """Which model is better and how sure we are: per model, the mean rating with its 95%
    bootstrap interval (rating projects), or the Bradley–Terry rating, Elo-scaled, with its
    interval and the win-rate matrix (pairwise projects). Models best first; models whose
    intervals overlap share a rank and list each other in ``tied_with``. The filters narrow
    it to batches, prompts or models (a round asks for its prompts and its two models)."""
    data = judgments_load(
        project=project, batch_ids=batch_ids, prompt_ids=prompt_ids, models=models
    )
    return {
        "project": project.pk,
        "kind": project.kind,
        "batches": None if batch_ids is None else sorted(batch_ids),
        "bootstrap": {"resamples": n_boot, "seed": seed, "level": LEVEL},
        "ratings": _rating_board(data, n_boot, seed),
        "pairwise": _pairwise_board(data, n_boot, seed),
    }


def _binomial(report: stats.BinomialReport) -> dict:
    return {
        "count": report.successes,
        "n": report.n,
        "share": _number(report.share),
        "p_value": _number(report.p_value),
        "lower": _number(report.lower),
        "upper": _number(report.upper),
    }


def _windows(drift: stats.Drift) -> dict:
    # A trend needs judgments in at least two windows: fitted within one window (an
    # afternoon's work), a slope per day would extrapolate minutes into days.
    trend = len(drift.window_start) >= 2
    return {
        "slope_per_day": _number(drift.slope * DAY) if trend else None,
        "p_value": _number(drift.p_value) if trend else None,
        "windows": [
            {"start": _iso(start), "agreement": _number(mean), "judgments": int(n)}
            for start, mean, n in zip(
                drift.window_start.tolist(),
                drift.window_mean.tolist(),
                drift.window_n.tolist(),
                strict=True,
            )
        ],
    }


def _alpha_groups(
    data: Judgments, value: np.ndarray, group: np.ndarray, level: Level, key: str
) -> list[dict]:
    alphas = stats.alpha_by_group(data.task, value, group, level=level)
    raw = stats.pair_agreement_by_group(data.task, value, group)
    codes, counts = np.unique(group, return_counts=True)
    return [
        {
            key: None if code == NO_GROUP else code,
            "alpha": _number(alphas.get(code)),
            **_raw(raw.get(code)),
            "judgments": count,
        }
        for code, count in zip(codes.tolist(), counts.tolist(), strict=True)
    ]


def _raw(found: stats.PairAgreement | None) -> dict:
    """Raw agreement beside an alpha: the share of pairs of judgments of a task that agree
    exactly, and the number of pairs."""
    if found is None:
        return {"raw_agreement": None, "pairs": 0}
    return {"raw_agreement": _number(found.share), "pairs": found.pairs}


def agreement_figures(
    *,
    project: Project,
    batch_ids: Collection[int] | None = None,
    prompt_ids: Collection[int] | None = None,
    models: Collection[str] | None = None,
    window_days: float = WINDOW_DAYS,
) -> dict:
    """How reliable the judgments are: Krippendorff's alpha (ordinal for ratings, nominal for
    choices in the task's terms) overall, per batch and per guideline version, each beside
    its raw agreement (the share of pairs of judgments of a task that agree exactly); per
    annotator,
    agreement with the others left-one-out, gold accuracy, self-consistency (pairwise: how
    often their answer to a repeat, shown later with the sides swapped, matches their first),
    Dawid–Skene reliability, drift of
    their agreement over windows of ``window_days``, position bias (pairwise) and their rating
    histogram (ratings); and the project's position and length bias."""
    low, high = WINDOW_DAYS_RANGE
    if not low <= window_days <= high:
        raise InvalidInput(
            f"The window is a number of days from {low:g} to {high:g}.",
            fields={"window_days": [f"From {low:g} to {high:g}."]},
        )
    selection: dict[str, Any] = {"batch_ids": batch_ids, "prompt_ids": prompt_ids, "models": models}
    data = judgments_load(project=project, with_lengths=True, **selection)
    gold_annotator, gold_hit = gold_results_load(project=project, **selection)
    repeat_annotator, repeat_same = self_consistency_load(project=project, **selection)
    rating = data.kind == ProjectKind.RATING
    value = data.rating if rating else data.choice
    level: Level = "ordinal" if rating else "nominal"
    n = len(data.task)
    name = data.pseudonyms.name
    everyone = sorted(
        set(data.annotator.tolist())
        | set(gold_annotator.tolist())
        | set(repeat_annotator.tolist()),
        key=name,
    )
    rows: dict[int, dict[str, Any]] = {
        uid: {
            "annotator": name(uid),
            "judgments": 0,
            "agreement": None,
            "agreement_judgments": 0,
            "mean_abs_diff": None,
            "gold": None,
            "self_consistency": None,
            "reliability": None,
            "position_bias": None,
            "rating_histogram": None,
            "drift": None,
        }
        for uid in everyone
    }
    figures = {
        "project": project.pk,
        "kind": project.kind,
        "level": level,
        "batches": None if batch_ids is None else sorted(batch_ids),
        "judgments": n,
        "tasks": len(np.unique(data.task)),
        "annotators": [],
        "alpha": {
            "overall": None,
            "raw_agreement": None,
            "pairs": 0,
            "by_batch": [],
            "by_version": [],
        },
        "over_time": {
            "window_days": window_days,
            "slope_per_day": None,
            "p_value": None,
            "windows": [],
        },
        "position_bias": None,
        "length_bias": None,
        "rating_histogram": None,
        "dawid_skene": None,
    }
    for report in stats.gold_accuracy(gold_annotator, gold_hit, np.ones(len(gold_hit), bool)):
        rows[report.annotator]["gold"] = {
            "n": report.n,
            "correct": report.correct,
            "accuracy": _number(report.accuracy),
            "lower": _number(report.lower),
            "upper": _number(report.upper),
        }
    # The same share with its Wilson interval as gold accuracy: repeats matching the first.
    matching = np.ones(len(repeat_same), bool)
    for report in stats.gold_accuracy(repeat_annotator, repeat_same, matching):
        rows[report.annotator]["self_consistency"] = {
            "n": report.n,
            "same": report.correct,
            "share": _number(report.accuracy),
            "lower": _number(report.lower),
            "upper": _number(report.upper),
        }
    if n:
        _agreement(data, value, level, window_days, rows, figures)
    figures["annotators"] = [rows[uid] for uid in everyone]
    return figures


def _agreement(
    data: Judgments,
    value: np.ndarray,
    level: Level,
    window_days: float,
    rows: dict[int, dict],
    figures: dict,
) -> None:
    """The figures that need judgments, written into ``rows`` (per annotator) and
    ``figures``."""
    rating = data.kind == ProjectKind.RATING
    batch_names = dict(
        Batch.objects.filter(project_id=figures["project"]).values_list("pk", "name")
    )
    by_batch = _alpha_groups(data, value, data.batch, level, "batch")
    for group in by_batch:
        group["name"] = batch_names.get(group["batch"], "")
    figures["alpha"] = {
        "overall": _number(stats.alpha(data.task, value, level=level)),
        **_raw(stats.pair_agreement(data.task, value)),
        "by_batch": by_batch,
        "by_version": _alpha_groups(data, value, data.version, level, "version"),
    }
    users, counts = np.unique(data.annotator, return_counts=True)
    for uid, count in zip(users.tolist(), counts.tolist(), strict=True):
        rows[uid]["judgments"] = count
    # Ratings against the others' mean (the item-rest correlation); choices against the
    # others' plurality.
    for result in stats.leave_one_out_agreement(
        data.task, data.annotator, value, level="interval" if rating else "nominal"
    ):
        row = rows[result.annotator]
        row["agreement"] = _number(result.agreement)
        row["agreement_judgments"] = result.n
        row["mean_abs_diff"] = _number(result.mean_abs_diff)
    # Over time, every kind reads the same figure: the share of judgments that match the
    # plurality of the other judgments of their task (simple percent agreement).
    credit = stats.plurality_agreement(data.task, value)
    window = window_days * DAY
    if not np.isnan(credit).all():
        for drift in stats.annotator_drift(data.annotator, data.time, credit, window=window):
            rows[drift.annotator]["drift"] = _windows(drift)
        (overall,) = stats.annotator_drift(
            np.zeros(len(credit), dtype=np.int64), data.time, credit, window=window
        )
        figures["over_time"] = {"window_days": window_days, **_windows(overall)}
    skene = stats.dawid_skene(
        data.task, data.annotator, value, classes=RATING_SCALE if rating else CHOICES
    )
    for uid, reliability in zip(skene.annotators, skene.reliability.tolist(), strict=True):
        rows[uid]["reliability"] = _number(reliability)
    figures["dawid_skene"] = {"iterations": skene.iterations, "converged": skene.converged}
    if rating:
        histograms = stats.rating_histograms(data.annotator, data.rating, values=RATING_SCALE)
        for uid, counts in zip(histograms.annotators, histograms.counts.tolist(), strict=True):
            rows[uid]["rating_histogram"] = counts
        figures["rating_histogram"] = histograms.counts.sum(axis=0).tolist()
    else:
        figures["position_bias"] = _binomial(stats.position_bias(data.screen_choice))
        for uid, report in stats.position_bias_by_annotator(
            data.annotator, data.screen_choice
        ).items():
            rows[uid]["position_bias"] = _binomial(report)
        figures["length_bias"] = _binomial(
            stats.length_bias(data.length_a, data.length_b, stats.outcome_scores(data.choice))
        )
