"""The work itself: batches, tasks, leases (claims) and judgments."""

from typing import TYPE_CHECKING

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from annotation import choices
from annotation.models.data import Prompt, Response
from annotation.models.project import Project, ProjectKind

if TYPE_CHECKING:
    from django.contrib.auth.models import User


# The most human judgments adaptive overlap may ask of one task: past this, more eyes settle
# little that an adjudication would not settle better.
ADAPTIVE_OVERLAP_CAP = 10


class BatchStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class Batch(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="batches")
    name = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0, help_text="Queue order among batches.")
    overlap = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(50)]
    )
    adaptive_max_overlap = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(ADAPTIVE_OVERLAP_CAP)],
        help_text="Adaptive overlap: a task whose judgments call for more human eyes gets one "
        "more slot at a time, up to this many in all (blank: off).",
    )
    adaptive_on_split = models.BooleanField(
        default=True, help_text="Adaptive overlap: add a slot when the humans split."
    )
    adaptive_on_judge = models.BooleanField(
        default=False,
        help_text="Adaptive overlap: add a slot when the judge's newest verdict disagrees with "
        "the human majority.",
    )
    due_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=BatchStatus.choices, default=BatchStatus.OPEN)
    closed_reason = models.TextField(
        blank=True, help_text="Why ftapp closed the batch itself (a lead's close gives none)."
    )
    annotators: "models.ManyToManyField[User, BatchAssignment]" = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="BatchAssignment", related_name="assigned_batches"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "position", "id"]
        verbose_name_plural = "batches"
        constraints = [
            models.CheckConstraint(
                condition=Q(overlap__gte=1, overlap__lte=50), name="batch_overlap_range"
            ),
            models.CheckConstraint(
                condition=Q(status__in=BatchStatus.values), name="batch_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(adaptive_max_overlap__isnull=True)
                | Q(
                    adaptive_max_overlap__gte=F("overlap"),
                    adaptive_max_overlap__lte=ADAPTIVE_OVERLAP_CAP,
                ),
                name="batch_adaptive_max_overlap_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class BatchAssignment(models.Model):
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="batch_assignments"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["batch", "annotator"], name="batch_assignment_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.annotator} on {self.batch}"


class Choice(models.TextChoices):
    """A pairwise verdict. In a judgment, A and B are the left and right of the screen; in a
    gold answer or an adjudication, they are the task's ``response_a`` and ``response_b``."""

    A = choices.A, "A is better"
    B = choices.B, "B is better"
    TIE = choices.TIE, "Tie"
    BOTH_BAD = choices.BOTH_BAD, "Both bad"


class Task(models.Model):
    """A unit of review: one response to rate, or two responses of one prompt to compare."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tasks")
    kind = models.CharField(max_length=16, choices=ProjectKind.choices)
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="tasks")
    response_a = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")
    response_b = models.ForeignKey(
        Response, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    batch = models.ForeignKey(
        Batch, on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks"
    )
    is_gold = models.BooleanField(default=False)
    # Kept up to date by the judgment services, in the same statement for both, so the queue
    # never scans finished tasks and never counts judgments on its hot path.
    judgment_count = models.PositiveIntegerField(default=0)
    # A database default too: bulk writers that insert tasks in SQL (benchmarks, imports
    # by COPY) need not know of adaptive overlap.
    extra_slots = models.PositiveSmallIntegerField(
        default=0,
        db_default=0,
        help_text="Slots adaptive overlap added beyond the batch's overlap; the task needs "
        "overlap + extra_slots judgments.",
    )
    is_complete = models.BooleanField(
        default=False,
        help_text="Has as many judgments as its slots: its batch's overlap plus its extra "
        "slots (never gold).",
    )
    gold_rating_min = models.PositiveSmallIntegerField(null=True, blank=True)
    gold_rating_max = models.PositiveSmallIntegerField(null=True, blank=True)
    gold_choice = models.CharField(max_length=16, choices=Choice.choices, blank=True)
    review_requested_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="A lead sent the task for review: it is listed among the conflicts "
        "until a lead adjudicates it, even when its judgments agree.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "id"]
        indexes = [
            models.Index(fields=["batch", "id"], name="task_batch_order"),
            models.Index(
                fields=["batch", "is_gold", "id"],
                condition=Q(is_complete=False),
                name="task_open_in_batch",
            ),
            # The data browser's sorts, paged by key within a project.
            models.Index(fields=["project", "id"], name="task_project_order"),
            models.Index(fields=["project", "judgment_count", "id"], name="task_project_judgments"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind=ProjectKind.RATING) & Q(response_b__isnull=True))
                | (
                    Q(kind=ProjectKind.PAIRWISE)
                    & Q(response_b__isnull=False)
                    & ~Q(response_a=F("response_b"))
                ),
                name="task_shape_matches_kind",
            ),
            models.UniqueConstraint(
                fields=["project", "response_a"],
                condition=Q(response_b__isnull=True),
                name="task_unique_rating",
            ),
            models.UniqueConstraint(
                fields=["project", "response_a", "response_b"],
                condition=Q(response_b__isnull=False),
                name="task_unique_pair",
            ),
            models.CheckConstraint(
                condition=Q(is_gold=True)
                | (
                    Q(gold_rating_min__isnull=True)
                    & Q(gold_rating_max__isnull=True)
                    & Q(gold_choice="")
                ),
                name="task_gold_answer_only_on_gold",
            ),
            models.CheckConstraint(
                condition=(
                    Q(gold_rating_min__isnull=True)
                    | Q(gold_rating_min__gte=1, gold_rating_min__lte=5)
                )
                & (
                    Q(gold_rating_max__isnull=True)
                    | Q(gold_rating_max__gte=1, gold_rating_max__lte=5)
                )
                & (
                    Q(gold_rating_min__isnull=True)
                    | Q(gold_rating_max__isnull=True)
                    | Q(gold_rating_min__lte=F("gold_rating_max"))
                ),
                name="task_gold_rating_range",
            ),
        ]

    def __str__(self) -> str:
        return f"task {self.pk} ({self.kind})"


class ClaimStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUBMITTED = "submitted", "Submitted"
    SKIPPED = "skipped", "Skipped"
    RELEASED = "released", "Released"


class Claim(models.Model):
    """An annotator's lease on one slot of a task. An active claim past ``expires_at`` no
    longer holds its slot; nothing needs to sweep it."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="claims")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="claims"
    )
    status = models.CharField(
        max_length=16, choices=ClaimStatus.choices, default=ClaimStatus.ACTIVE
    )
    swapped = models.BooleanField(
        default=False, help_text="Pairwise: response_b was shown on the left."
    )
    skip_reason = models.TextField(blank=True)
    claimed_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["task", "status", "expires_at"], name="claim_slot_lookup"),
            models.Index(fields=["annotator", "status"], name="claim_annotator_status"),
            models.Index(fields=["annotator", "task"], name="claim_annotator_task"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["task", "annotator"], name="claim_unique_annotator"),
            models.CheckConstraint(
                condition=Q(status__in=ClaimStatus.values), name="claim_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("claimed_at")), name="claim_expires_after_claimed"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.annotator} on task {self.task_id} ({self.status})"


class Judgment(models.Model):
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="judgments")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="judgments"
    )
    claim = models.OneToOneField(
        Claim, on_delete=models.SET_NULL, null=True, blank=True, related_name="judgment"
    )
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    rubric_scores = models.JSONField(default=dict, blank=True)
    choice = models.CharField(max_length=16, choices=Choice.choices, blank=True)
    swapped = models.BooleanField(
        default=False, help_text="Pairwise: response_b was on the left when judged."
    )
    chosen_response = models.ForeignKey(
        Response, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    rejected_response = models.ForeignKey(
        Response, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    comment = models.TextField(blank=True)
    rewrite = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    guidelines_version = models.PositiveIntegerField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=128, blank=True, default="")
    late = models.BooleanField(
        default=False, help_text="Arrived after its lease had expired; kept all the same."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    # Set by a database trigger on every insert and update (see migration 0005): on
    # PostgreSQL the writing transaction's id, on SQLite a counter. Label pulls page by
    # (change_seq, id) and, on PostgreSQL, serve only ids below the oldest running
    # transaction, so a judgment committed late is never skipped.
    change_seq = models.BigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["change_seq", "id"], name="judgment_change_order")]
        constraints = [
            models.UniqueConstraint(fields=["task", "annotator"], name="judgment_unique_annotator"),
            models.UniqueConstraint(
                fields=["annotator", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="judgment_unique_idempotency_key",
            ),
            models.CheckConstraint(
                condition=(Q(rating__isnull=False, rating__gte=1, rating__lte=5) & Q(choice=""))
                | (Q(rating__isnull=True) & Q(choice__in=Choice.values)),
                name="judgment_rating_xor_choice",
            ),
            models.CheckConstraint(
                condition=Q(chosen_response__isnull=True)
                | Q(rejected_response__isnull=True)
                | ~Q(chosen_response=F("rejected_response")),
                name="judgment_chosen_differs",
            ),
        ]

    def __str__(self) -> str:
        return f"judgment {self.pk} on task {self.task_id}"


class JudgmentRevision(models.Model):
    """A judgment as it was before its annotator changed it: who changed it, when, and the
    values it held. The judgment row itself carries the values now in force."""

    judgment = models.ForeignKey(Judgment, on_delete=models.CASCADE, related_name="revisions")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)
    previous = models.JSONField(
        help_text="rating, choice (as shown), rubric_scores, comment and rewrite before."
    )

    class Meta:
        ordering = ["judgment", "changed_at", "id"]

    def __str__(self) -> str:
        return f"revision of judgment {self.judgment_id} at {self.changed_at}"


class Adjudication(models.Model):
    """A lead's final label for a task whose judgments disagree; exports use it instead of
    the judgments. For pairwise, ``choice`` A and B are the task's ``response_a`` and
    ``response_b``, not screen positions."""

    task = models.OneToOneField(Task, on_delete=models.CASCADE, related_name="adjudication")
    lead = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    choice = models.CharField(max_length=16, choices=Choice.choices, blank=True)
    chosen_response = models.ForeignKey(
        Response, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    rejected_response = models.ForeignKey(
        Response, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(rating__isnull=False, rating__gte=1, rating__lte=5) & Q(choice=""))
                | (Q(rating__isnull=True) & Q(choice__in=Choice.values)),
                name="adjudication_rating_xor_choice",
            ),
        ]

    def __str__(self) -> str:
        return f"adjudication of task {self.task_id}"
