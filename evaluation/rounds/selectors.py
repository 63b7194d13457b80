"""Reads of rounds: the verdict of new against previous."""

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
from django.contrib.auth.models import User
from django.db.models import QuerySet

from annotation.models import Project, ProjectKind
from annotation.selectors import in_led_project
from evaluation.generation.selectors import generation_runs_progress
from evaluation.leaderboard.games import battles, settled_ratings
from evaluation.leaderboard.loading import Judgments, judgments_load
from evaluation.models import Round, RunStatus
from evaluation.stats import round_verdict


def round_get_for_lead(*, user: User, round_id: int) -> Round:
    """The round, if the user leads its project (404 outside it, 403 for its other members)."""
    rnd = (
        Round.objects.select_related("project", "model", "export", "generation_run", "batch")
        .filter(pk=round_id)
        .first()
    )
    return in_led_project(rnd, user=user, name="round")


def round_list(*, project: Project) -> QuerySet[Round]:
    return project.rounds.select_related("model", "export", "generation_run").order_by("-number")


Games = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _compared(rnd: Round) -> list[str]:
    """The round's two models: the new one, then the one it is compared with."""
    return [rnd.model.name, rnd.previous_model]


def _judgments_of_round(data: Judgments, rnd: Round) -> Judgments:
    """The part of ``data`` that ``judgments_load`` gives for the round alone: the judgments
    that count on its prompts, of tasks between its two models. Kept in their order, so the
    figures are the same to the last digit."""
    codes = [data.models.index(name) for name in _compared(rnd) if name in data.models]

    def on_round(prompt: np.ndarray, model_a: np.ndarray, model_b: np.ndarray) -> np.ndarray:
        kept = np.isin(prompt, rnd.prompt_ids) & np.isin(model_a, codes)
        if data.kind == ProjectKind.PAIRWISE:
            kept &= np.isin(model_b, codes)
        return kept

    judged = on_round(data.prompt, data.model_a, data.model_b)
    adjudicated = on_round(
        data.adjudicated_prompt, data.adjudicated_model_a, data.adjudicated_model_b
    )
    columns = {}
    for field in dataclasses.fields(data):
        column = getattr(data, field.name)
        if isinstance(column, np.ndarray):
            kept = adjudicated if field.name.startswith("adjudicated_") else judged
            columns[field.name] = column[kept]
    return dataclasses.replace(data, **columns)


def _pairwise_games(rnd: Round, data: Judgments) -> Games:
    """Every judgment of a task pairing the two models on the round's prompts, as a game;
    an adjudicated task counts once, with the lead's label."""
    fought = battles(data)
    names = np.array(data.models, dtype=object)
    return names[fought.model_a], names[fought.model_b], fought.score, fought.prompt


def _rating_games(rnd: Round, data: Judgments) -> Games:
    """Rating projects: one game per prompt, the new model's answer against the previous
    model's by their scores (a task's settled score: the lead's adjudicated rating, else its
    mean rating), ties half."""
    new, previous = rnd.model.name, rnd.previous_model
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


def round_results(*, rounds: Sequence[Round]) -> dict[int, dict[str, Any]]:
    """Each round's result (see ``_result``), the judgments of all of them read in one load:
    a list of rounds costs the queries of one round. Each still runs its bootstrap, since
    the list shows each round's interval. The rounds are of one project."""
    if not rounds:
        return {}
    data = judgments_load(
        project=rounds[0].project,
        prompt_ids={pid for rnd in rounds for pid in rnd.prompt_ids},
        models={name for rnd in rounds for name in _compared(rnd)},
    )
    return {rnd.pk: _result(rnd, _judgments_of_round(data, rnd)) for rnd in rounds}


def round_result(*, rnd: Round) -> dict[str, Any]:
    return round_results(rounds=[rnd])[rnd.pk]


def round_generation_problem(*, status: str, progress: dict[str, Any]) -> str:
    """What went wrong with a round's generation and what the lead can do, in a sentence;
    empty while it works or once every request was answered."""
    if status == RunStatus.FAILED:
        return (
            f"Generation failed: not one of its {progress['total']} requests was answered, so "
            "the round has nothing to judge. Once the model answers (see the run's errors), "
            "resume the run retrying its failures, or start a new round."
        )
    if status == RunStatus.COMPLETED_WITH_FAILURES:
        return (
            f"Generation answered {progress['done']} of {progress['total']} requests; the "
            f"{progress['failed']} that failed have no task to judge. Resume the run retrying "
            "its failures to add them, or judge the round on the answered ones."
        )
    if status == RunStatus.CANCELLED:
        return (
            f"Generation was cancelled with {progress['remaining']} of {progress['total']} "
            "requests not answered. Resume the run to finish it, or start a new round."
        )
    return ""


def rounds_figures(*, rounds: Sequence[Round]) -> dict[int, dict[str, Any]]:
    """What the API shows of each round beside its fields: its generation run's status and
    progress (``None`` without a run) and its result, in the queries of one round however
    many there are."""
    progress = generation_runs_progress(
        runs=[rnd.generation_run for rnd in rounds if rnd.generation_run is not None]
    )
    results = round_results(rounds=rounds)
    return {
        rnd.pk: {
            "generation": None
            if rnd.generation_run is None
            else {
                "status": rnd.generation_run.status,
                "problem": round_generation_problem(
                    status=rnd.generation_run.status, progress=progress[rnd.generation_run.pk]
                ),
                **progress[rnd.generation_run.pk],
            },
            "result": results[rnd.pk],
        }
        for rnd in rounds
    }


def _result(rnd: Round, data: Judgments) -> dict[str, Any]:
    """Win rate of the new model over the previous one on the round's prompts, its 95%
    interval (bootstrap over prompts) and the verdict; ``None`` figures until judged."""
    play = _rating_games if rnd.project.kind == "rating" else _pairwise_games
    model_a, model_b, score_a, cluster = play(rnd, data)
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
