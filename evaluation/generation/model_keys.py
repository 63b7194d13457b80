"""What a model endpoint may call and which secret it may send there.

An endpoint names the environment variable holding its API key, and whoever registers it
picks the server it is sent to. So only variables the operator declared as model keys may be
named: those starting with ``FTAPP_MODEL_KEY_`` and those listed in ``FTAPP_MODEL_KEYS``,
never one ftapp's own settings read (``SECRET_KEY``, ``DATABASE_URL``, ...). The rule is
checked when an endpoint is saved and again each time a key is read, so an endpoint stored
some other way still sends nothing it should not.
"""

import os
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from ftapp import env

PREFIX = "FTAPP_MODEL_KEY_"
LIST_SETTING = "FTAPP_MODEL_KEYS"


class KeyVariableRefused(Exception):
    """The endpoint names a variable that is not a declared model key."""


def key_variable_problem(name: str) -> str | None:
    """Why ``name`` may not hold a model endpoint's key, or None when it may."""
    how = (
        f"Name a variable starting with {PREFIX} (such as {PREFIX}OPENAI), or one the "
        f"operator lists in {LIST_SETTING}."
    )
    if name in env.KNOWN:
        return f"{name} is one of ftapp's own settings and is never sent to a model server. {how}"
    if (name.startswith(PREFIX) and len(name) > len(PREFIX)) or name in (
        settings.MODEL_KEY_VARIABLES
    ):
        return None
    return f"{name} is not a declared model key. {how}"


def validate_key_variable(name: str) -> None:
    """A model field validator; an empty name (no key) passes."""
    problem = key_variable_problem(name) if name else None
    if problem:
        raise ValidationError(problem, code="undeclared_key_variable")


def key_read(name: str) -> str:
    """The key in variable ``name``: empty when no variable is named or it is unset. Raises
    ``KeyVariableRefused`` for a variable that is not a declared model key."""
    if not name:
        return ""
    problem = key_variable_problem(name)
    if problem:
        raise KeyVariableRefused(problem)
    return os.environ.get(name, "")


def validate_base_url(url: str) -> None:
    """http or https, a host, and no credentials: a key travels only in a declared variable."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise ValidationError("Enter a valid URL.", code="invalid") from None
    if parts.scheme not in ("http", "https"):
        raise ValidationError("Give an http:// or https:// URL.", code="scheme")
    if not host:
        raise ValidationError("The URL names no host.", code="host")
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            "Put no user name or password in the URL; name the variable holding the key in "
            "api_key_env instead.",
            code="credentials",
        )
