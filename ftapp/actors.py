"""Who asks a service for something: a user, or the system itself.

Every service checks its own permission against the actor it is given. A management command,
the demo seeding, a Celery task acting on what a user already asked for, pass ``SYSTEM``: it
passes the checks, and because it must be named, no caller skips a check by leaving an
argument out."""

from typing import TypeAlias

from django.contrib.auth.models import User


class System:
    """The server acting on its own behalf; there is one, ``SYSTEM``."""

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM = System()

Actor: TypeAlias = User | System


def user_or_none(actor: Actor) -> User | None:
    """The user to record as the author of a change; ``None`` when the system made it."""
    return None if isinstance(actor, System) else actor
