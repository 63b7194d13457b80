"""A Dawid–Skene consensus label per task, offered to exports instead of the plain majority
(pairwise) or mean (ratings): each annotator's votes weigh by their estimated reliability, so
a careless annotator sways fewer labels."""

from collections.abc import Hashable
from typing import Any

import numpy as np

from annotation.choices import CHOICES
from annotation.models import Project
from evaluation.exports.source import votes_read
from evaluation.stats import dawid_skene


class Consensus:
    """Task id → the consensus label: a rating (1..5) or a choice in the task's terms.
    Stored as two sorted arrays, not a dict, to stay small for millions of tasks."""

    def __init__(self, task_ids: np.ndarray, labels: np.ndarray) -> None:
        order = np.argsort(task_ids, kind="stable")
        self.task_ids, self.labels = task_ids[order], labels[order]

    def label(self, task_id: int) -> Any:
        at = int(np.searchsorted(self.task_ids, task_id))
        if at < len(self.task_ids) and self.task_ids[at] == task_id:
            value = self.labels[at]
            return value.item() if hasattr(value, "item") else value
        return None


def consensus_fit(*, project: Project, options: dict[str, Any], excluded: list[int]) -> Consensus:
    """Fits Dawid & Skene over the judgments the export reads (its own filters, read by
    ``votes_read``) and keeps each task's most probable label."""
    rows = votes_read(project_id=project.pk, options=options, excluded=excluded)
    if not rows:
        return Consensus(np.array([], dtype=np.int64), np.array([]))
    task, annotator, rating, choice = zip(*rows, strict=True)
    labels: list[Hashable]
    classes: list[Hashable]
    if project.kind == "rating":
        labels, classes = list(rating), [1, 2, 3, 4, 5]
    else:
        labels, classes = list(choice), list(CHOICES)
    fitted = dawid_skene(
        np.array(task), np.array(annotator), np.array(labels, dtype=object), classes=classes
    )
    return Consensus(np.array(fitted.units, dtype=np.int64), np.array(fitted.label, dtype=object))
