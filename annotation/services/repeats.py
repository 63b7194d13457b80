"""Self-consistency: a share of an annotator's judged pairs shown to them again, later, with
the sides swapped, looking like any task.

Which pairs: with a project's ``repeat_share`` s, the annotator's n-th judgment of a
(non-gold) pair is repeated when ⌊n·s⌋ grows at n, so exactly that share of them is, spread
evenly. When: after a random 3 to 10 more of their judgments, or as soon as their queue has
nothing else (never right after the judgment it repeats). A repeat is served on the
annotator's page before a new task, never while they hold a task already.

A repeat is not a judgment and takes no claim (``annotation.models.repeats``): the queue's
slots and counters never see it; its lease lives on its own row, under the same lease
length, and a late answer is kept and marked like a late judgment. Serving and answering
repeats is the annotator's page's (``annotation.services.workspace``).
"""

import math
import random

from django.contrib.auth.models import User

from annotation.models import Judgment, Project, ProjectKind, Repeat

# How many of their own judgments later a repeat comes back: far enough that the pair is not
# fresh in mind, near enough that the annotator works under the same guidelines.
REPEAT_GAP = (3, 10)

_random = random.SystemRandom()


def judged_count(*, user: User, project_id: int) -> int:
    """How many judgments the annotator has in the project: the clock repeats run on."""
    return Judgment.objects.filter(annotator=user, task__project_id=project_id).count()


def repeat_schedule_if_due(*, judgment: Judgment, project: Project) -> Repeat | None:
    """Inside the transaction of a new judgment: schedules its repeat when its turn comes
    (see the module's docstring). Gold tasks are never repeated: they measure accuracy."""
    share = project.repeat_share
    if share <= 0 or project.kind != ProjectKind.PAIRWISE or judgment.task.is_gold:
        return None
    judged = Judgment.objects.filter(
        annotator_id=judgment.annotator_id, task__project=project, task__is_gold=False
    ).count()
    # A hair of tolerance: a product such as n * 0.13 may land just below a whole number.
    if math.floor(judged * share + 1e-9) <= math.floor((judged - 1) * share + 1e-9):
        return None
    return Repeat.objects.create(
        first=judgment,
        task=judgment.task,
        annotator_id=judgment.annotator_id,
        swapped=not judgment.swapped,
        due_after=judged_count(user=judgment.annotator, project_id=project.pk)
        + _random.randint(*REPEAT_GAP),
    )
