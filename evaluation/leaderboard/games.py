"""A project's judgments as what the figures rank: pairwise games (battles) and rated tasks'
settled scores. The lead's adjudication, where a task has one, replaces its judgments here,
for the leaderboard and the rounds alike."""

from dataclasses import dataclass

import numpy as np

from evaluation import stats
from evaluation.leaderboard.loading import Judgments


@dataclass(frozen=True, slots=True)
class Battles:
    """A pairwise project's games, one per entry: model codes, ``score`` of ``model_a`` (1
    won, 0.5 tied or both bad, 0 lost) and prompt; ``judgments`` is how many came from
    judgments rather than adjudications."""

    model_a: np.ndarray
    model_b: np.ndarray
    score: np.ndarray
    prompt: np.ndarray
    judgments: int


def settled_ratings(data: Judgments) -> tuple[stats.RatingAggregate, np.ndarray, np.ndarray]:
    """Each rated task's settled score (the adjudicated rating, else the judgments' mean),
    with its model and prompt, in the aggregate's task order."""
    settled = stats.aggregate_ratings(
        data.task,
        data.rating,
        adjudicated_unit=data.adjudicated_task,
        adjudicated_rating=data.adjudicated_rating,
    )
    # aggregate_ratings reports the tasks sorted, as np.unique does: take each one's model
    # and prompt from its first row among the judgments and adjudications.
    _, first = np.unique(np.concatenate([data.task, data.adjudicated_task]), return_index=True)
    model = np.concatenate([data.model_a, data.adjudicated_model_a])[first]
    prompt = np.concatenate([data.prompt, data.adjudicated_prompt])[first]
    return settled, model, prompt


def battles(data: Judgments) -> Battles:
    """Every judgment is a battle, except on an adjudicated task, which is one battle with
    the lead's outcome: the lead's word replaces the votes, it does not add to them."""
    kept = ~np.isin(data.task, data.adjudicated_task)
    return Battles(
        model_a=np.concatenate([data.model_a[kept], data.adjudicated_model_a]),
        model_b=np.concatenate([data.model_b[kept], data.adjudicated_model_b]),
        score=np.concatenate(
            [
                stats.outcome_scores(data.choice[kept]),
                stats.outcome_scores(data.adjudicated_choice),
            ]
        ),
        prompt=np.concatenate([data.prompt[kept], data.adjudicated_prompt]),
        judgments=int(kept.sum()),
    )
