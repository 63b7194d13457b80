"""The judge's trigger for adaptive overlap (``annotation.services.overlap``): a task gets
one more human slot when the newest judge verdict on it disagrees with the human majority.

Pairwise: the humans' strict majority verdict, in the task's terms, against the verdict's
choice; no strict majority is a split, the humans' own trigger. A verdict that does not
survive the swap (``consistent=False``) says nothing about the task and triggers nothing:
else a judge biased to one side would call for humans on every task. Ratings: the verdict
disagrees when it is two or more points from the humans' median, the conflict rule's "within
one point agrees".
"""

from collections import Counter
from statistics import median

from annotation.models import ProjectKind, Task
from evaluation.models import JudgeVerdict


def judge_disagrees_with_humans(task: Task, split: Counter) -> bool:
    """Whether the newest verdict of any judge on ``task`` disagrees with its humans, whose
    verdicts ``split`` counts in the task's terms."""
    verdict = (
        JudgeVerdict.objects.filter(task=task)
        .order_by("-id")
        .only("kind", "rating", "choice", "consistent")
        .first()
    )
    if verdict is None or not split:
        return False
    if task.kind == ProjectKind.RATING:
        if verdict.rating is None:
            return False
        ratings = [value for value, n in split.items() for _ in range(n)]
        return abs(verdict.rating - median(ratings)) >= 2
    if verdict.consistent is False:
        return False
    top, votes = split.most_common(1)[0]
    if votes * 2 <= sum(split.values()):
        return False
    return verdict.choice != top
