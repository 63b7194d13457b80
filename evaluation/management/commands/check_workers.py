from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from evaluation.tasks import heartbeat


class Command(BaseCommand):
    help = "Sends a heartbeat through every queue and reports which workers answered."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=10.0)

    def handle(self, *args, timeout: float, **options):
        missing = []
        for queue in (q.name for q in settings.CELERY_TASK_QUEUES):
            try:
                answer = heartbeat.apply_async(args=[queue], queue=queue).get(timeout=timeout)
            except CeleryTimeout:
                missing.append(queue)
                self.stdout.write(f"{queue}: no worker answered within {timeout:g}s")
                continue
            self.stdout.write(f"{queue}: {answer['hostname']}")
        if missing:
            raise CommandError(f"No worker consumes: {', '.join(missing)}")
