"""The Celery application. Queues: ``generation`` (model calls), ``exports`` (dataset builds),
``default`` (everything else); routes and limits live in settings under ``CELERY_``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ftapp.settings")

app = Celery("ftapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
