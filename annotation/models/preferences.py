"""A user's settings for their own work, kept on the server so they follow them everywhere."""

from django.conf import settings
from django.db import models


class AnnotatorPreference(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotator_preference"
    )
    shortcuts = models.BooleanField(
        default=True,
        help_text="Single-key shortcuts in the workspace (off: Tab and Enter only).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Preferences of {self.user}"
