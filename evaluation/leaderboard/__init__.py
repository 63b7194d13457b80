"""Reads for evaluation: which model is better and how sure we are (the leaderboard), and how
reliable the annotators were (agreement, gold, drift, bias). ``loading`` reads a project's
judgments into numpy columns; ``games`` makes them games and settled scores; ``figures``
turns them into JSON-ready dicts."""

from evaluation.leaderboard.figures import (
    ELO_BASE,
    RATING_SCALE,
    WINDOW_DAYS,
    WINDOW_DAYS_RANGE,
    agreement_figures,
    leaderboard_figures,
)
from evaluation.leaderboard.loading import (
    Judgments,
    batch_ids_parse,
    gold_results_load,
    judgments_load,
)

__all__ = [
    "ELO_BASE",
    "RATING_SCALE",
    "WINDOW_DAYS",
    "WINDOW_DAYS_RANGE",
    "Judgments",
    "agreement_figures",
    "batch_ids_parse",
    "gold_results_load",
    "judgments_load",
    "leaderboard_figures",
]
