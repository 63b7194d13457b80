"""The rules about judgments that every output follows alike (the pull feed, the exports, the
leaderboard and agreement figures, the rounds), so that no two of them can disagree."""

import hashlib
from typing import Protocol

from django.conf import settings
from django.db.models import QuerySet

from annotation.choices import task_choice
from annotation.models import Judgment, Membership, ProjectKind

FORMER = "former-"


def former_member_pseudonym(user_id: int) -> str:
    """A stable pseudonym for someone who has left the project (their membership, and the
    pseudonym with it, is gone) that does not disclose their user id."""
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:{user_id}".encode()).hexdigest()
    return f"{FORMER}{digest[:10]}"


class Pseudonyms:
    """The name each annotator of a project goes by wherever judgments are shown: their
    membership's pseudonym, or for a former member a stand-in that hides their user id."""

    def __init__(self, *, project_id: int) -> None:
        self.project_id = project_id
        self.current: dict[int, str] = dict(
            Membership.objects.filter(project_id=project_id).values_list("user_id", "pseudonym")
        )

    def name(self, user_id: int) -> str:
        return self.current.get(user_id) or former_member_pseudonym(user_id)

    def user_id(self, pseudonym: str) -> int | None:
        """Who goes by ``pseudonym`` here, if anyone: a member, or someone who left and whose
        judgments stay."""
        found = next((uid for uid, name in self.current.items() if name == pseudonym), None)
        if found is not None or not pseudonym.startswith(FORMER):
            return found
        former = (
            Judgment.objects.filter(task__project_id=self.project_id)
            .exclude(annotator_id__in=list(self.current))
            .values_list("annotator_id", flat=True)
            .distinct()
        )
        return next((uid for uid in former if former_member_pseudonym(uid) == pseudonym), None)


class GoldTask(Protocol):
    """What ``gold_correct`` reads of a task: a ``Task``, or a row read as a tuple."""

    kind: str
    gold_rating_min: int | None
    gold_rating_max: int | None
    gold_choice: str


class GoldAnswer(Protocol):
    """What ``gold_correct`` reads of a judgment."""

    rating: int | None
    choice: str
    swapped: bool


def gold_correct(task: GoldTask, judgment: GoldAnswer) -> bool:
    """Whether a judgment of a gold task gives its expected answer. The gold choice is in
    the task's terms, the judgment's as shown: compare them in the task's terms."""
    if task.kind == ProjectKind.RATING:
        low, high, rating = task.gold_rating_min, task.gold_rating_max, judgment.rating
        return low is not None and high is not None and rating is not None and low <= rating <= high
    return task_choice(judgment.choice, judgment.swapped) == task.gold_choice


def set_aside_annotators(*, project_id: int) -> QuerySet[Membership, int]:
    """The user ids of the annotators a lead set aside: their judgments count nowhere (not in
    exports, figures or rounds), though they are kept and pulled."""
    return Membership.objects.filter(project_id=project_id, set_aside=True).values_list(
        "user_id", flat=True
    )


def counted_judgments(*, project_id: int, gold: bool = False) -> QuerySet[Judgment]:
    """The judgments that count towards a project's figures: of its gold tasks (``gold``,
    which test the annotators) or of the others (which judge the models), annotators set
    aside left out. A late judgment counts like any other: human work is never discarded. A
    lead's adjudication, where a task has one, replaces its judgments in every label."""
    return Judgment.objects.filter(task__project_id=project_id, task__is_gold=gold).exclude(
        annotator_id__in=set_aside_annotators(project_id=project_id)
    )
