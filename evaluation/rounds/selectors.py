"""Reads of rounds: the verdict of new against previous."""

from typing import Any

import numpy as np
from django.contrib.auth.models import User
from django.db.models import QuerySet

from annotation.models import Project
from annotation.selectors import project_get_for_lead
from evaluation.leaderboard.games import battles, settled_ratings
from evaluation.leaderboard.loading import Judgments, judgments_load
from evaluation.models import Round
from evaluation.stats import round_verdict
from ftapp.errors import NotFound


def round_get_for_lead(*, user: User, round_id: int) -> Round:
    found = (
        Round.objects.select_related("project", "model", "export", "generation_run", "batch")
        .filter(pk=round_id)
        .first()
    )
    if found is None:
        raise NotFound("No such round.")
    project_get_for_lead(user=user, project_id=found.project_id)
    return found


def round_list(*, project: Project) -> QuerySet[Round]:
    return project.rounds.select_related("model", "export", "generation_run").order_by("-number")


Games = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _round_judgments(rnd: Round) -> Judgments:
    """The judgments that count on the round's prompts, of tasks between its two models."""
    return judgments_load(
        project=rnd.project, prompt_ids=rnd.prompt_ids, models=[rnd.model.name, rnd.previous_model]
    )


def _pairwise_games(rnd: Round) -> Games:
    """Every judgment of a task pairing the two models on the round's prompts, as a game;
    an adjudicated task counts once, with the lead's label."""
    data = _round_judgments(rnd)
    fought = battles(data)
    names = np.array(data.models, dtype=object)
    return names[fought.model_a], names[fought.model_b], fought.score, fought.prompt


def _rating_games(rnd: Round) -> Games:
    """Rating projects: one game per prompt, the new model's answer against the previous
    model's by their scores (a task's settled score: the lead's adjudicated rating, else its
    mean rating), ties half."""
    new, previous = rnd.model.name, rnd.previous_model
    data = _round_judgments(rnd)
    scores: dict[int, dict[str, list[float]]] = {}
    if len(data.task) or len(data.adjudicated_task):
        settled, model, prompt = settled_ratings(data)
        for prompt_id, code, score in zip(
            prompt.tolist(), model.tolist(), settled.score.tolist(), strict=True
        ):
            scores.setdefault(prompt_id, {}).setdefault(data.models[code], []).append(score)
    model_a, model_b, score_a, cluster = [], [], [], []
    for prompt_id, by_model in sorted(scores.items()):
        if new in by_model and previous in by_model:
            difference = np.mean(by_model[new]) - np.mean(by_model[previous])
            model_a.append(new)
            model_b.append(previous)
            score_a.append(1.0 if difference > 0 else 0.0 if difference < 0 else 0.5)
            cluster.append(prompt_id)
    return (
        np.array(model_a, dtype=object),
        np.array(model_b, dtype=object),
        np.array(score_a, dtype=float),
        np.array(cluster, dtype=np.int64),
    )


def round_result(*, rnd: Round) -> dict[str, Any]:
    """Win rate of the new model over the previous one on the round's prompts, its 95%
    interval (bootstrap over prompts) and the verdict; ``None`` figures until judged."""
    games = _rating_games(rnd) if rnd.project.kind == "rating" else _pairwise_games(rnd)
    model_a, model_b, score_a, cluster = games
    result: dict[str, Any] = {
        "new_model": rnd.model.name,
        "previous_model": rnd.previous_model,
        "prompts": len(rnd.prompt_ids),
        "games": len(score_a),
        "win_rate": None,
        "lower": None,
        "upper": None,
        "wins": 0,
        "ties": 0,
        "losses": 0,
        "verdict": "not judged yet",
    }
    if not len(score_a):
        return result
    comparison = round_verdict(
        model_a,
        model_b,
        score_a,
        new=rnd.model.name,
        previous=rnd.previous_model,
        cluster=cluster,
        seed=rnd.pk,
    )
    result.update(
        win_rate=round(comparison.win_rate, 4),
        lower=round(comparison.lower, 4),
        upper=round(comparison.upper, 4),
        wins=comparison.wins,
        ties=comparison.ties,
        losses=comparison.losses,
        verdict=comparison.verdict,
    )
    return result
