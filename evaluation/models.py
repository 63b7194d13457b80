"""The model side: registered model endpoints and the workers that call them."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

ENV_VAR_NAME = RegexValidator(
    r"^[A-Z_][A-Z0-9_]*$", "Give the name of an environment variable, such as OPENAI_API_KEY."
)


class ModelEndpoint(models.Model):
    """An OpenAI-compatible chat-completions server and the model to ask on it. The API key is
    never stored: ``api_key_env`` names the environment variable the workers read it from."""

    name = models.CharField(max_length=200, unique=True)
    base_url = models.URLField(max_length=500, help_text="e.g. http://127.0.0.1:8080/v1")
    model = models.CharField(max_length=200, help_text="The model id the server expects.")
    params = models.JSONField(
        default=dict,
        blank=True,
        help_text="Default parameters: temperature, top_p, max_tokens, seed, stop, system.",
    )
    api_key_env = models.CharField(max_length=100, blank=True, validators=[ENV_VAR_NAME])
    max_concurrency = models.PositiveSmallIntegerField(
        default=4, validators=[MinValueValidator(1), MaxValueValidator(256)]
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
