"""A user's own settings: each user changes only theirs."""

from django.contrib.auth.models import User

from annotation.models import AnnotatorPreference


def shortcuts_set(*, user: User, enabled: bool) -> AnnotatorPreference:
    """Turns the workspace's single-key shortcuts on or off for ``user``, remembered on the
    server so the setting follows them to any browser."""
    preference, _ = AnnotatorPreference.objects.update_or_create(
        user=user, defaults={"shortcuts": enabled}
    )
    return preference
