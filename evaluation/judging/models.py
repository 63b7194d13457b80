"""The judge's records. Re-exported from ``evaluation.models``, where Django registers them;
import them from there. References to the other models of the app are by name, because
``evaluation.models`` imports this module."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotation.choices import CHOICES
from annotation.models import ProjectKind


class JudgePrompt(models.Model):
    """One published version of a project's judge prompt; the newest version is current.
    ``template`` is the user message, with placeholders filled in at each call
    (``evaluation.judging.protocol``)."""

    project = models.ForeignKey(
        "annotation.Project", on_delete=models.CASCADE, related_name="judge_prompts"
    )
    version = models.PositiveIntegerField()
    system = models.TextField(blank=True)
    template = models.TextField()
    change_note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "version"], name="judge_prompt_unique_version"
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="judge_prompt_version_min"),
        ]

    def __str__(self) -> str:
        return f"{self.project} judge prompt v{self.version}"


class JudgeVerdict(models.Model):
    """What a judge decided on one task in one run, written once when every order asked of
    it is done. ``choice`` is in the task's terms (``A`` is ``task.response_a``), as are
    ``order_choices``, one per order asked. A pairwise verdict the swap does not confirm is
    ``consistent=False`` and counts as a tie."""

    project = models.ForeignKey(
        "annotation.Project", on_delete=models.CASCADE, related_name="judge_verdicts"
    )
    run = models.ForeignKey(
        "evaluation.GenerationRun", on_delete=models.CASCADE, related_name="verdicts"
    )
    task = models.ForeignKey(
        "annotation.Task", on_delete=models.CASCADE, related_name="judge_verdicts"
    )
    endpoint = models.ForeignKey(
        "evaluation.ModelEndpoint", on_delete=models.PROTECT, related_name="verdicts"
    )
    judge_prompt = models.ForeignKey(JudgePrompt, on_delete=models.PROTECT, related_name="verdicts")
    kind = models.CharField(max_length=16, choices=ProjectKind.choices)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    rubric_scores = models.JSONField(default=dict, blank=True)
    choice = models.CharField(max_length=16, blank=True)
    order_choices = models.JSONField(default=list, blank=True)
    consistent = models.BooleanField(null=True, blank=True)
    rationale = models.TextField(blank=True)
    tokens_in = models.PositiveIntegerField(null=True, blank=True)
    tokens_out = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set by a database trigger on every insert and update (migration 0010), as
    # Judgment.change_seq is: the verdicts pull pages by (change_seq, id).
    change_seq = models.BigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["project", "change_seq", "id"], name="judge_verdict_change_order"),
            models.Index(
                fields=["project", "endpoint", "judge_prompt", "task"], name="judge_verdict_judge"
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["run", "task"], name="judge_verdict_unique_task"),
            models.CheckConstraint(
                condition=(
                    Q(kind=ProjectKind.RATING, rating__gte=1, rating__lte=5, choice="")
                    & Q(consistent__isnull=True)
                )
                | Q(kind=ProjectKind.PAIRWISE, rating__isnull=True, choice__in=CHOICES),
                name="judge_verdict_shape_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"verdict {self.pk} on task {self.task_id}"
