"""The model side: registered model endpoints and the workers that call them."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from evaluation.generation.model_keys import (
    key_variable_problem,
    validate_base_url,
    validate_key_variable,
)
from evaluation.judging.models import JudgePrompt, JudgeVerdict

__all__ = [
    "ENV_VAR_NAME",
    "RUN_ENDED",
    "Export",
    "ExportFormat",
    "ExportKind",
    "ExportStatus",
    "GenerationItem",
    "GenerationRun",
    "ItemStatus",
    "JudgePrompt",
    "JudgeVerdict",
    "ModelEndpoint",
    "Round",
    "RunPurpose",
    "RunStatus",
    "TaskCreation",
    "WorkerHeartbeat",
]

ENV_VAR_NAME = RegexValidator(
    r"^[A-Z_][A-Z0-9_]*$",
    "Give the name of an environment variable, such as FTAPP_MODEL_KEY_OPENAI.",
)


class ModelEndpoint(models.Model):
    """An OpenAI-compatible chat-completions server and the model to ask on it. The API key is
    never stored: ``api_key_env`` names the environment variable the workers read it from, one
    declared as a model key (``evaluation.generation.model_keys``)."""

    name = models.CharField(max_length=200, unique=True)
    base_url = models.URLField(
        max_length=500, validators=[validate_base_url], help_text="e.g. http://127.0.0.1:8080/v1"
    )
    model = models.CharField(max_length=200, help_text="The model id the server expects.")
    params = models.JSONField(
        default=dict,
        blank=True,
        help_text="Default parameters: temperature, top_p, max_tokens, seed, stop, system.",
    )
    api_key_env = models.CharField(
        max_length=100, blank=True, validators=[ENV_VAR_NAME, validate_key_variable]
    )
    max_concurrency = models.PositiveSmallIntegerField(
        default=4,
        validators=[MinValueValidator(1), MaxValueValidator(256)],
        help_text="Requests in flight at once to this endpoint, across all workers.",
    )
    timeout_seconds = models.PositiveSmallIntegerField(
        default=120, validators=[MinValueValidator(1), MaxValueValidator(3600)]
    )
    retired_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set when a lead retires the model: no new run or round uses it; its runs, "
        "responses and rounds stay.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_concurrency__gte=1), name="model_endpoint_concurrency_min"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def key_problem(self) -> str | None:
        """Endpoints stored before the key rule may name a variable it refuses: the models
        page says so, where the registrant looks, rather than only when a call fails."""
        return key_variable_problem(self.api_key_env) if self.api_key_env else None


class WorkerHeartbeat(models.Model):
    """The last time a worker answered on a queue, so pages can warn when work is queued but
    no worker is listening."""

    queue = models.CharField(max_length=50)
    hostname = models.CharField(max_length=255)
    seen_at = models.DateTimeField()

    class Meta:
        ordering = ["queue", "-seen_at"]
        constraints = [
            models.UniqueConstraint(fields=["queue", "hostname"], name="heartbeat_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.hostname} on {self.queue}"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    COMPLETED_WITH_FAILURES = "completed_with_failures", "Completed with failures"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


# A run in one of these is at rest: no worker sends its requests until it is resumed.
RUN_ENDED = (
    RunStatus.COMPLETED,
    RunStatus.COMPLETED_WITH_FAILURES,
    RunStatus.CANCELLED,
    RunStatus.FAILED,
)


class TaskCreation(models.TextChoices):
    ON_FINISH = "on_finish", "When the run finishes"
    AS_ARRIVE = "as_arrive", "As responses arrive"


class RunPurpose(models.TextChoices):
    GENERATE = "generate", "Generate responses"
    JUDGE = "judge", "Judge tasks"


class GenerationRun(models.Model):
    """Prompts × model endpoints × samples, executed by workers on the ``generation`` queue.
    A judge run (``purpose="judge"``) goes through the same machinery: its items each ask
    its one endpoint to judge a task in one order, and it writes verdicts, never responses
    or tasks."""

    project = models.ForeignKey(
        "annotation.Project", on_delete=models.CASCADE, related_name="generation_runs"
    )
    endpoints = models.ManyToManyField(ModelEndpoint, related_name="runs")
    purpose = models.CharField(
        max_length=16, choices=RunPurpose.choices, default=RunPurpose.GENERATE
    )
    judge_prompt = models.ForeignKey(
        JudgePrompt, on_delete=models.PROTECT, null=True, blank=True, related_name="runs"
    )
    samples = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    params = models.JSONField(default=dict, blank=True, help_text="Overrides of the defaults.")
    selection = models.JSONField(default=dict, blank=True, help_text="Which prompts, as asked.")
    create_tasks = models.CharField(
        max_length=16, choices=TaskCreation.choices, default=TaskCreation.ON_FINISH
    )
    target_batch = models.ForeignKey(
        "annotation.Batch", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    pair_with = models.JSONField(
        default=list,
        blank=True,
        help_text="Pairwise: pair the new responses only with these models' (empty: the "
        "project's pairing).",
    )
    status = models.CharField(max_length=32, choices=RunStatus.choices, default=RunStatus.QUEUED)
    tasks_created = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Last sign of work: dispatched, or an item begun by a worker.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(purpose=RunPurpose.GENERATE, judge_prompt__isnull=True)
                | Q(purpose=RunPurpose.JUDGE, judge_prompt__isnull=False),
                name="generation_run_judge_prompt_for_judges",
            ),
        ]

    def __str__(self) -> str:
        return f"{'judge' if self.purpose == RunPurpose.JUDGE else 'generation'} run {self.pk}"

    @property
    def ended(self) -> bool:
        return self.status in RUN_ENDED


class ItemStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class GenerationItem(models.Model):
    """One request: a prompt, an endpoint, a sample. Unique, so a redelivered Celery task
    finds the item done and creates no second response. A judge item also names its
    ``task``, and its ``sample`` is the order asked: 0 shows ``response_a`` first (as "A"),
    1 shows ``response_b`` first."""

    run = models.ForeignKey(GenerationRun, on_delete=models.CASCADE, related_name="items")
    prompt = models.ForeignKey("annotation.Prompt", on_delete=models.CASCADE, related_name="+")
    task = models.ForeignKey(
        "annotation.Task", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    endpoint = models.ForeignKey(ModelEndpoint, on_delete=models.PROTECT, related_name="+")
    sample = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16, choices=ItemStatus.choices, default=ItemStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    starts = models.PositiveSmallIntegerField(
        default=0,
        help_text="Times a worker began it and never got to the end (back to 0 when it ends).",
    )
    error = models.TextField(blank=True)
    response = models.OneToOneField(
        "annotation.Response", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    tokens_in = models.PositiveIntegerField(null=True, blank=True)
    tokens_out = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    finish_reason = models.CharField(max_length=50, blank=True)
    output = models.JSONField(
        null=True, blank=True, help_text="A judge item's parsed answer, in its order's terms."
    )
    raw_output = models.TextField(
        blank=True, help_text="A judge item's answer as the model wrote it, parsed or not."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["run", "id"]
        indexes = [
            models.Index(fields=["run", "status"], name="generation_item_status"),
            models.Index(
                fields=["run", "task"], condition=Q(task__isnull=False), name="judge_item_task"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "prompt", "endpoint", "sample"],
                condition=Q(task__isnull=True),
                name="generation_item_unique",
            ),
            models.UniqueConstraint(
                fields=["run", "task", "sample"],
                condition=Q(task__isnull=False),
                name="judge_item_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"item {self.pk} of run {self.run_id}"


class ExportKind(models.TextChoices):
    SFT = "sft", "SFT"
    DPO = "dpo", "DPO / reward"
    KTO = "kto", "KTO"
    JUDGMENTS = "judgments", "Every judgment"


class ExportFormat(models.TextChoices):
    TRL = "trl", "TRL (conversational)"
    OPENAI = "openai", "OpenAI fine-tuning"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Export(models.Model):
    """A dataset built from a project's judgments. Its files are written once, under
    ``VAR_DIR/exports/<id>/``, and never rebuilt: a finished export is a snapshot."""

    project = models.ForeignKey(
        "annotation.Project", on_delete=models.CASCADE, related_name="exports"
    )
    kind = models.CharField(max_length=16, choices=ExportKind.choices)
    format = models.CharField(max_length=16, choices=ExportFormat.choices)
    options = models.JSONField(
        default=dict, help_text="Every filter and selection rule, defaults filled in."
    )
    test_fraction = models.FloatField(
        default=0.1, validators=[MinValueValidator(0.0), MaxValueValidator(0.9)]
    )
    seed = models.IntegerField(default=0)
    status = models.CharField(
        max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    error = models.TextField(blank=True)
    progress_done = models.PositiveIntegerField(default=0, help_text="Tasks read so far.")
    progress_total = models.PositiveIntegerField(default=0, help_text="Tasks to read.")
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Builds begun since it was last queued by a person."
    )
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of its build, or when it was queued."
    )
    snapshot_at = models.DateTimeField(
        null=True, blank=True, help_text="The database time the judgments were read at."
    )
    files = models.JSONField(
        default=dict, blank=True, help_text="Per split: file name, rows, bytes, sha256."
    )
    card = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when started from the command line.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "status", "snapshot_at"], name="export_snap")]
        constraints = [
            models.CheckConstraint(
                condition=Q(test_fraction__gte=0.0, test_fraction__lte=0.9),
                name="export_test_fraction_range",
            ),
        ]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.kind}/{self.format})"


class Round(models.Model):
    """One fine-tuning round: a model trained on an export, compared with the model before it
    on the export's held-out test prompts."""

    project = models.ForeignKey(
        "annotation.Project", on_delete=models.CASCADE, related_name="rounds"
    )
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=200, blank=True)
    model = models.ForeignKey(
        ModelEndpoint,
        on_delete=models.PROTECT,
        related_name="rounds",
        help_text="The fine-tuned model.",
    )
    previous_model = models.CharField(
        max_length=200,
        help_text="The model name it is compared with (the base, or the previous round's model).",
    )
    export = models.ForeignKey(
        Export, on_delete=models.PROTECT, related_name="rounds", help_text="What it was trained on."
    )
    generation_run = models.OneToOneField(
        GenerationRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="round"
    )
    batch = models.ForeignKey(
        "annotation.Batch",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Where the new-against-previous tasks go.",
    )
    prompt_ids = models.JSONField(default=list, help_text="The prompts compared on.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="round_unique_number"),
        ]

    def __str__(self) -> str:
        return self.name or f"round {self.number}"
