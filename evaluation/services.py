"""Writes on the model side."""

from datetime import datetime

from evaluation.models import WorkerHeartbeat


def worker_heartbeat_record(*, queue: str, hostname: str, seen_at: datetime) -> WorkerHeartbeat:
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(
        queue=queue, hostname=hostname, defaults={"seen_at": seen_at}
    )
    return heartbeat
