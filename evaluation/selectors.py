"""Reads on the model side."""

from datetime import timedelta

from django.utils import timezone

from evaluation.models import WorkerHeartbeat


def workers_seen(*, within: timedelta = timedelta(minutes=5)) -> dict[str, list[str]]:
    """Hostnames per queue of the workers that answered a heartbeat recently."""
    seen: dict[str, list[str]] = {}
    recent = WorkerHeartbeat.objects.filter(seen_at__gte=timezone.now() - within)
    for queue, hostname in recent.values_list("queue", "hostname"):
        seen.setdefault(queue, []).append(hostname)
    return seen
