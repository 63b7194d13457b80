"""Reads of rounds: the verdict of new against previous."""

from typing import Any

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from annotation.models import Adjudication, Judgment, Membership, Project, Task
from annotation.selectors import project_get_for_lead
from evaluation.models import Round
from evaluation.stats import round_verdict
from ftapp.errors import NotFound


def round_get_for_lead(*, user: AbstractBaseUser, round_id: int) -> Round:
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


def _pairwise_games(rnd: Round) -> tuple[list[str], list[str], list[float], list[int]]:
    """Every judgment of a task pairing the two models on the round's prompts, as a game;
    an adjudicated task counts once, with the lead's label."""
    new, previous = rnd.model.name, rnd.previous_model
    tasks = Task.objects.filter(
        project=rnd.project,
        kind="pairwise",
        is_gold=False,
        prompt_id__in=rnd.prompt_ids,
        response_a__model_name__in=[new, previous],
        response_b__model_name__in=[new, previous],
    ).values_list("id", "prompt_id", "response_a_id", "response_a__model_name")
    info = {tid: (pid, a, model_a) for tid, pid, a, model_a in tasks}
    adjudicated = dict(
        Adjudication.objects.filter(task_id__in=info).values_list("task_id", "choice")
    )
    model_a, model_b, score_a, cluster = [], [], [], []

    def game(task_id: int, outcome: float) -> None:
        prompt_id, _, first = info[task_id]
        model_a.append(first)
        model_b.append(previous if first == new else new)
        score_a.append(outcome)
        cluster.append(prompt_id)

    for task_id, choice in sorted(adjudicated.items()):
        game(task_id, {"A": 1.0, "B": 0.0}.get(choice, 0.5))
    for task_id, chosen in (
        Judgment.objects.filter(task_id__in=info)
        .exclude(task_id__in=adjudicated)
        .exclude(annotator_id__in=_excluded(rnd))
        .order_by("id")
        .values_list("task_id", "chosen_response_id")
    ):
        first_response = info[task_id][1]
        game(task_id, 0.5 if chosen is None else float(chosen == first_response))
    return model_a, model_b, score_a, cluster


def _rating_games(rnd: Round) -> tuple[list[str], list[str], list[float], list[int]]:
    """Rating projects: one game per prompt, the new model's answer against the previous
    model's by their scores (a task's mean rating, or the lead's adjudicated one), ties half."""
    new, previous = rnd.model.name, rnd.previous_model
    tasks = Task.objects.filter(
        project=rnd.project,
        kind="rating",
        is_gold=False,
        prompt_id__in=rnd.prompt_ids,
        response_a__model_name__in=[new, previous],
    ).values_list("id", "prompt_id", "response_a__model_name")
    info = {tid: (pid, model) for tid, pid, model in tasks}
    ratings: dict[int, list[int]] = {}
    for task_id, rating in (
        Judgment.objects.filter(task_id__in=info)
        .exclude(annotator_id__in=_excluded(rnd))
        .values_list("task_id", "rating")
    ):
        ratings.setdefault(task_id, []).append(rating)
    for task_id, rating in Adjudication.objects.filter(task_id__in=info).values_list(
        "task_id", "rating"
    ):
        ratings[task_id] = [rating]
    scores: dict[int, dict[str, list[float]]] = {}
    for task_id, values in ratings.items():
        prompt_id, model = info[task_id]
        scores.setdefault(prompt_id, {}).setdefault(model, []).append(float(np.mean(values)))
    model_a, model_b, score_a, cluster = [], [], [], []
    for prompt_id, by_model in sorted(scores.items()):
        if new in by_model and previous in by_model:
            difference = np.mean(by_model[new]) - np.mean(by_model[previous])
            model_a.append(new)
            model_b.append(previous)
            score_a.append(1.0 if difference > 0 else 0.0 if difference < 0 else 0.5)
            cluster.append(prompt_id)
    return model_a, model_b, score_a, cluster


def _excluded(rnd: Round) -> list[int]:
    return list(
        Membership.objects.filter(project=rnd.project, excluded_from_exports=True).values_list(
            "user_id", flat=True
        )
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
    if not score_a:
        return result
    comparison = round_verdict(
        np.array(model_a, dtype=object),
        np.array(model_b, dtype=object),
        np.array(score_a, dtype=float),
        new=rnd.model.name,
        previous=rnd.previous_model,
        cluster=np.array(cluster),
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
