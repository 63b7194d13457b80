"""An annotator changing a judgment of theirs after the fact, from "My work".

The same rule as undo decides whether it may still change (``judgment_check_changeable``:
not adjudicated, in no export snapshot). The values it held go to a ``JudgmentRevision`` in
the same transaction as the change; the judgment's ``updated_at`` and the ``change_seq``
trigger make label pulls report the change like any other write. Task counters stay as
they are: the judgment is the same one, counted once.
"""

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from annotation.models import Judgment, JudgmentRevision, ProjectKind
from annotation.selectors import membership_get
from annotation.selectors.my_work import JudgmentNotFound
from annotation.services.judgments import _resolve_pair, _validate, judgment_check_changeable
from annotation.services.overlap import task_overlap_reconsider
from ftapp.errors import Conflict

CHANGEABLE = ("rating", "choice", "rubric_scores", "comment", "rewrite")


def judgment_values(judgment: Judgment) -> dict[str, Any]:
    """The values an annotator may change, as they gave them (choice in screen terms)."""
    return {
        "rating": judgment.rating,
        "choice": judgment.choice,
        "rubric_scores": dict(judgment.rubric_scores or {}),
        "comment": judgment.comment,
        "rewrite": judgment.rewrite,
    }


@transaction.atomic
def judgment_change(*, user: User, judgment_id: int, **data: Any) -> Judgment:
    """Changes the annotator's own judgment while it may still change. Fields left out keep
    their value; the result is checked as a submit is. A change that changes nothing writes
    nothing (no revision, no new ``updated_at``)."""
    unknown = set(data) - set(CHANGEABLE)
    if unknown:
        raise TypeError(f"judgment_change() got unexpected fields {sorted(unknown)}")
    judgment = (
        Judgment.objects.select_for_update(of=("self",))
        .select_related("task__project", "task__response_a", "task__response_b")
        .filter(pk=judgment_id, annotator=user)
        .first()
    )
    if judgment is None:
        raise JudgmentNotFound()
    project = judgment.task.project
    membership_get(user=user, project_id=project.pk)
    if project.archived_at is not None:
        raise Conflict("This project is archived: its judgments no longer change.")
    judgment_check_changeable(judgment)
    task = judgment.task
    before = judgment_values(judgment)
    clean = _validate(task, project, {**before, **data, "duration_ms": None})
    originals = {task.response_a.text.strip()}
    if task.response_b is not None:
        originals.add(task.response_b.text.strip())
    if clean["rewrite"] in originals:
        clean["rewrite"] = ""  # an unedited copy of a response is not a rewrite
    after = {name: clean[name] for name in CHANGEABLE}
    if after == before:
        return judgment
    JudgmentRevision.objects.create(judgment=judgment, changed_by=user, previous=before)
    for name, value in after.items():
        setattr(judgment, name, value)
    if task.kind == ProjectKind.PAIRWISE:
        judgment.chosen_response, judgment.rejected_response = _resolve_pair(
            task, judgment.swapped, judgment.choice
        )
    judgment.save(update_fields=[*CHANGEABLE, "chosen_response", "rejected_response", "updated_at"])
    # A changed verdict may split a full task's humans: adaptive overlap looks again.
    task_overlap_reconsider(task_ids=[task.pk])
    return judgment
