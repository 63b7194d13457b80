"""The Celery application. Queues: ``generation`` (model calls), ``exports`` (dataset builds),
``default`` (everything else); routes and limits live in settings under ``CELERY_``."""

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ftapp.settings")

app = Celery("ftapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def recover_stale_jobs_on_start(sender, **kwargs) -> None:
    """A worker starting again after it was killed finds at once the jobs it left, rather than
    at the next beat (see ``evaluation.tasks``)."""
    app.send_task("ops.recover_stale_jobs")
