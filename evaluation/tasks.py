"""Celery tasks of the model side. Thin: each calls a service."""

import socket

from celery import shared_task
from django.utils import timezone

from evaluation.services import worker_heartbeat_record


@shared_task(name="ops.heartbeat", bind=True)
def heartbeat(self, queue: str) -> dict[str, str]:
    """Sent with ``apply_async(args=[queue], queue=queue)``: records that a worker consumes
    that queue."""
    if self.request.is_eager:
        hostname = f"in-process@{socket.gethostname()}"
    else:
        hostname = self.request.hostname
    worker_heartbeat_record(queue=queue, hostname=hostname, seen_at=timezone.now())
    return {"queue": queue, "hostname": hostname}
