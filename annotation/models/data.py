"""What is reviewed: prompts and the responses models gave to them."""

from django.db import models
from django.db.models import Q

from annotation.models.project import Project
from annotation.text import conversation_hash


class Prompt(models.Model):
    """A single-turn ``text`` or a chat ``messages`` list ending with a user turn."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts")
    external_id = models.CharField(max_length=255, help_text="The import record's id.")
    text = models.TextField(blank=True)
    messages = models.JSONField(null=True, blank=True)
    system = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(
        max_length=64, db_index=True, help_text="sha256 of the normalized conversation."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "external_id"], name="prompt_unique_external_id"
            ),
            models.CheckConstraint(
                condition=(Q(messages__isnull=True) & ~Q(text=""))
                | (Q(messages__isnull=False) & Q(text="")),
                name="prompt_text_xor_messages",
            ),
        ]

    def __str__(self) -> str:
        return self.external_id

    def save(self, *args, **kwargs):
        self.content_hash = conversation_hash(self.system, self.turns())
        super().save(*args, **kwargs)

    def turns(self) -> list[dict[str, str]]:
        """The conversation without the system prompt, as chat messages."""
        if self.messages is not None:
            return list(self.messages)
        return [{"role": "user", "content": self.text}]

    def conversation(self) -> list[dict[str, str]]:
        """The whole chat prompt, system message first when there is one."""
        system = [{"role": "system", "content": self.system}] if self.system else []
        return system + self.turns()


class Response(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="responses")
    model_name = models.CharField(max_length=200)
    model_endpoint = models.ForeignKey(
        "evaluation.ModelEndpoint",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="responses",
    )
    text = models.TextField()
    generation = models.JSONField(
        default=dict,
        blank=True,
        help_text="How it was made: parameters, tokens in/out, latency, finish reason.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["prompt", "id"]
        constraints = [
            # Lets a task reference (response, prompt) together, so a database-level foreign
            # key can hold that both responses of a pair answer the task's prompt.
            models.UniqueConstraint(fields=["id", "prompt"], name="response_unique_id_prompt"),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} → {self.prompt}"
