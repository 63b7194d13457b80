"""A task sent through Redis is executed by a real worker process and writes to PostgreSQL."""

import pytest
from django.core.management import call_command

from evaluation.models import WorkerHeartbeat
from evaluation.tasks import heartbeat

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("queue", ["generation", "exports", "default"])
def test_worker_consumes_every_queue_and_writes_to_postgres(celery_worker, queue):
    result = heartbeat.apply_async(args=[queue], queue=queue)
    assert result.get(timeout=30) == {"queue": queue, "hostname": celery_worker}
    row = WorkerHeartbeat.objects.get(queue=queue)
    assert row.hostname == celery_worker


def test_routes_send_named_tasks_to_their_queues():
    from ftapp.celery import app

    router = app.amqp.router
    assert router.route({}, "generation.run_chunk")["queue"].name == "generation"
    assert router.route({}, "exports.build")["queue"].name == "exports"
    assert router.route({}, "ops.heartbeat")["queue"].name == "default"


def test_check_workers_command_reports_each_queue(celery_worker, capsys):
    call_command("check_workers", timeout=30)
    out = capsys.readouterr().out
    for queue in ["generation", "exports", "default"]:
        assert f"{queue}: {celery_worker}" in out
