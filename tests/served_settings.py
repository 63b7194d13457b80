"""Settings of the app that ``tests.served`` runs under gunicorn: the deployment's own, read from
the environment, with the two changes the test process makes to itself (tests/conftest.py), so
that both accept the same users and render the same pages."""

from ftapp.settings import *  # noqa: F403
from ftapp.settings import STORAGES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
