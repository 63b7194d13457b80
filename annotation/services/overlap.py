"""Adaptive overlap: one more human slot on a task whose labels call for more eyes.

A batch with ``adaptive_max_overlap`` set gives a task one more slot (``Task.extra_slots``)
when the task has filled all of its slots and a trigger fires: its humans split (the project's
conflict rule, ``annotation.selectors.review.is_conflict``, the one rule the conflict queue
uses), or, with ``adaptive_on_judge``, a registered trigger says so (evaluation registers the
judge's: its newest verdict disagrees with the human majority). One slot at a time, never
past the maximum: the next slot is only considered once the task has filled this one.

Invariants, kept with the queue's (``annotation.services.claims``):
- slots only grow, and only under the task's row lock, in the transaction that holds it;
  a claim re-counts a task's slots under that same lock, so no task ever holds more claims
  plus judgments than its current slots;
- the slot is added in the transaction of the judgment that filled the task, or of the
  verdict that arrived later (``task_overlap_reconsider``), so ``is_complete`` turns false
  again in the same commit: no reader ever sees a full task that should have grown;
- the new slot is a plain free slot: the queue's rule that an annotator is served a task
  once gives it to someone who has not judged (nor skipped) the task.
"""

from collections import Counter
from collections.abc import Callable, Iterable

from django.db import transaction
from django.db.models import F

from annotation.models import Judgment, Task
from annotation.selectors.review import is_conflict, vote_split

# ``trigger(task, split)`` -> whether the task wants another human; ``split`` is the human
# verdicts in the task's terms (``vote_split``). Registered from an ``AppConfig.ready`` so
# this app depends on none of those that add triggers.
OverlapTrigger = Callable[[Task, Counter], bool]
_judge_triggers: list[OverlapTrigger] = []


def overlap_judge_trigger_register(trigger: OverlapTrigger) -> None:
    """Adds a trigger consulted for batches with ``adaptive_on_judge``."""
    if trigger not in _judge_triggers:
        _judge_triggers.append(trigger)


def _calls_for_more(task: Task) -> bool:
    batch = task.batch
    if batch is None or task.is_gold or batch.adaptive_max_overlap is None:
        return False
    if not task.is_complete or batch.overlap + task.extra_slots >= batch.adaptive_max_overlap:
        return False
    judgments = list(Judgment.objects.filter(task=task).only("rating", "choice", "swapped"))
    split = vote_split(kind=task.kind, judgments=judgments)
    if batch.adaptive_on_split and is_conflict(
        kind=task.kind, split=split, rule=task.project.conflict_rule
    ):
        return True
    return batch.adaptive_on_judge and any(trigger(task, split) for trigger in _judge_triggers)


def _locked(task_ids: Iterable[int]) -> list[Task]:
    """The tasks, row-locked in id order (the order every multi-task lock here takes)."""
    return list(
        Task.objects.select_for_update(of=("self",), no_key=True)
        .select_related("batch", "project")
        .filter(pk__in=list(task_ids))
        .order_by("pk")
    )


def _add_slot(task: Task) -> None:
    Task.objects.filter(pk=task.pk).update(extra_slots=F("extra_slots") + 1, is_complete=False)


def overlap_extend_if_called_for(*, task_id: int) -> bool:
    """Inside the transaction of the judgment that may have filled the task: one more slot
    if its labels call for it. Whether one was added."""
    (task,) = _locked([task_id])
    if not _calls_for_more(task):
        return False
    _add_slot(task)
    return True


@transaction.atomic
def task_overlap_reconsider(*, task_ids: Iterable[int]) -> list[int]:
    """Looks again at full tasks after something outside their judgments changed (a judge
    verdict written, a judgment changed): each that now calls for another human gets one
    more slot. The ids of the tasks that got one. A system path: it checks no caller."""
    added = []
    for task in _locked(task_ids):
        if _calls_for_more(task):
            _add_slot(task)
            added.append(task.pk)
    return added
