"""Reads of a user's own settings."""

from django.contrib.auth.models import User

from annotation.models import AnnotatorPreference


def shortcuts_enabled(*, user: User) -> bool:
    """Whether the workspace's single-key shortcuts act for this user (on unless turned off)."""
    setting = AnnotatorPreference.objects.filter(user=user).values_list("shortcuts", flat=True)
    return next(iter(setting), True)
