"""Projects, their guidelines and the people in them."""

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

# Repeats cost annotator time and measure nothing new past a few in ten.
REPEAT_SHARE_MAX = 0.2


class ProjectKind(models.TextChoices):
    RATING = "rating", "Rating (1–5)"
    PAIRWISE = "pairwise", "Pairwise (A/B)"


class Pairing(models.TextChoices):
    ALL_PAIRS = "all_pairs", "Every pair of models"
    BASELINE = "baseline", "Each model against the baseline"


class ConflictRule(models.TextChoices):
    """When a task's judgments count as a conflict the lead should settle."""

    NO_MAJORITY = "no_majority", "No strict majority"
    NOT_UNANIMOUS = "not_unanimous", "Not unanimous"


class Project(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=ProjectKind.choices)
    overlap = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="Independent judgments each task needs (the default for new batches).",
    )
    lease_minutes = models.PositiveSmallIntegerField(
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text="How long a claimed task stays reserved for its annotator.",
    )
    gold_rate = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of served tasks drawn from gold tasks.",
    )
    repeat_share = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(REPEAT_SHARE_MAX)],
        help_text="Pairwise: share of an annotator's judged pairs shown to them again later, "
        "sides swapped, to measure their self-consistency (0 to 0.2).",
    )
    pairing = models.CharField(max_length=16, choices=Pairing.choices, default=Pairing.ALL_PAIRS)
    baseline_model = models.CharField(max_length=200, blank=True)
    rubric = models.JSONField(
        default=list,
        blank=True,
        help_text='Optional rating dimensions, e.g. ["accuracy", "tone"].',
    )
    conflict_rule = models.CharField(
        max_length=16,
        choices=ConflictRule.choices,
        default=ConflictRule.NO_MAJORITY,
        help_text="Which disagreements are listed as conflicts to settle.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    archived_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set when a lead archives the project: it leaves home pages and queues; its "
        "data and exports stay.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=ProjectKind.values), name="project_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(overlap__gte=1, overlap__lte=50), name="project_overlap_range"
            ),
            models.CheckConstraint(condition=Q(lease_minutes__gte=1), name="project_lease_min"),
            models.CheckConstraint(
                condition=Q(gold_rate__gte=0.0, gold_rate__lte=1.0), name="project_gold_rate_range"
            ),
            models.CheckConstraint(
                condition=Q(repeat_share__gte=0.0, repeat_share__lte=REPEAT_SHARE_MAX),
                name="project_repeat_share_range",
            ),
            models.CheckConstraint(
                condition=Q(pairing=Pairing.ALL_PAIRS) | ~Q(baseline_model=""),
                name="project_baseline_named",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Guidelines(models.Model):
    """One published version of a project's guidelines; the newest version is current."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="guidelines")
    version = models.PositiveIntegerField()
    body = models.TextField(help_text="Markdown.")
    rating_anchors = models.JSONField(
        default=dict,
        blank=True,
        help_text='What each rating means, e.g. {"1": "Wrong or harmful", "5": "Expert-level"}.',
    )
    change_note = models.TextField(
        blank=True,
        help_text="What changed since the previous version, shown to annotators before their "
        "next task (blank for the first version).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-version"]
        verbose_name_plural = "guidelines"
        constraints = [
            models.UniqueConstraint(
                fields=["project", "version"], name="guidelines_unique_version"
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="guidelines_version_min"),
        ]

    def __str__(self) -> str:
        return f"{self.project} guidelines v{self.version}"


class GuidelinesAcknowledgment(models.Model):
    """An annotator has read a version of the guidelines (shown before their next task)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="guidelines_read"
    )
    guidelines = models.ForeignKey(
        Guidelines, on_delete=models.CASCADE, related_name="acknowledgments"
    )
    acknowledged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-acknowledged_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "guidelines"], name="guidelines_ack_unique_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} read {self.guidelines}"


class Role(models.TextChoices):
    LEAD = "lead", "Lead"
    ANNOTATOR = "annotator", "Annotator"


def _new_pseudonym() -> str:
    return f"ann-{secrets.token_hex(5)}"


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    pseudonym = models.CharField(
        max_length=32,
        default=_new_pseudonym,
        editable=False,
        help_text="Stable id that stands for the annotator in exports and the API.",
    )
    set_aside = models.BooleanField(
        default=False,
        help_text="A lead set this annotator's judgments aside: they count in no export, figure "
        "or round.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "role", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user"),
            models.UniqueConstraint(
                fields=["project", "pseudonym"], name="membership_unique_pseudonym"
            ),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} as {self.role} of {self.project}"
