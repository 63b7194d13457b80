"""Repeats: a judged pair shown again to its annotator, later, with the sides swapped."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotation.models.work import Choice, Judgment, Task


class RepeatStatus(models.TextChoices):
    WAITING = "waiting", "Waiting to be shown"
    ACTIVE = "active", "Shown, under a lease"
    ANSWERED = "answered", "Answered"
    SKIPPED = "skipped", "Skipped"


class Repeat(models.Model):
    """A pairwise task shown again to the annotator who judged it, some tasks later and with
    its sides swapped, looking like any task: their answer, compared with the first in the
    task's terms, measures their self-consistency.

    The answer is kept here and only here. It is not a judgment: it counts toward no overlap
    and no completion, and appears in no pull feed, export, agreement figure, leaderboard or
    gold accuracy. It takes no claim and holds no slot; its lease lives on this row."""

    first = models.OneToOneField(
        Judgment,
        on_delete=models.CASCADE,
        related_name="repeat",
        help_text="The judgment repeated; undoing it drops the repeat.",
    )
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="+")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    swapped = models.BooleanField(
        help_text="response_b is shown on the left: the opposite of the first judgment's side."
    )
    status = models.CharField(
        max_length=16, choices=RepeatStatus.choices, default=RepeatStatus.WAITING
    )
    due_after = models.PositiveIntegerField(
        help_text="Shown once the annotator has this many judgments in the project (or when "
        "their queue has nothing else)."
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    choice = models.CharField(
        max_length=16,
        choices=Choice.choices,
        blank=True,
        help_text="As pressed: A and B are the left and right of the screen.",
    )
    comment = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=128, blank=True, default="")
    late = models.BooleanField(default=False, help_text="Answered after its lease had expired.")
    answered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["annotator", "status", "due_after"], name="repeat_annotator_due"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=RepeatStatus.values), name="repeat_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status=RepeatStatus.ANSWERED, choice__in=Choice.values)
                | (~Q(status=RepeatStatus.ANSWERED) & Q(choice="")),
                name="repeat_choice_when_answered",
            ),
            models.UniqueConstraint(
                fields=["annotator", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="repeat_unique_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"repeat of judgment {self.first_id} ({self.status})"
