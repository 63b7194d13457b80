"""Queueing work for the Celery workers from a web request, all or nothing.

The message goes out after the commit that records the work (an export, a run), so a worker
never looks for a row that is not there yet. Were the broker (Redis) unreachable at that point,
the row would stay ``queued`` with no message ever to come: so the broker is asked first, inside
the caller's transaction, and an unreachable one raises ``QueueUnavailable``, which rolls the
caller's writes back; should the send still fail after the commit (Redis gone in between, or a
caller that queues outside its transaction), the caller's ``undo`` takes the row out of the
queued state before the same error is raised. Pages show its message; the API answers 503 with
Retry-After.
"""

import logging
from collections.abc import Callable

import kombu.exceptions
import redis
from django.conf import settings
from django.db import connection, transaction

from ftapp.errors import Unavailable

logger = logging.getLogger(__name__)

BROKER_ERRORS = (kombu.exceptions.OperationalError, redis.RedisError, OSError)


class QueueUnavailable(Unavailable):
    def __init__(self) -> None:
        super().__init__(
            "The task queue (Redis) is not taking work, so nothing was started. "
            "Try again in a minute; if it lasts, tell an administrator."
        )


def _broker_check() -> None:
    client = redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=2
    )
    try:
        client.ping()
    except redis.RedisError as error:
        logger.warning("The task queue is unreachable: %s: %s", type(error).__name__, error)
        raise QueueUnavailable() from error
    finally:
        client.close()


def enqueue_on_commit(send: Callable[[], object], *, undo: Callable[[], object]) -> None:
    """Calls ``send`` once the current transaction commits, having checked the broker first;
    outside a transaction, at once. ``send`` publishes the task; it should pass
    ``ignore_result=True`` when nobody waits for the result, or Celery's Redis result backend
    first subscribes to it and, with Redis away, retries for some twenty seconds before failing.
    ``undo`` runs when the send fails after the caller's writes were committed, and must leave
    no row waiting for a message that was not sent."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        # The task runs in-process within send(): its own errors are not the queue's.
        transaction.on_commit(send)
        return
    if connection.in_atomic_block:
        _broker_check()

    def send_or_undo() -> None:
        try:
            send()
        except BROKER_ERRORS as error:
            logger.warning("Queueing failed after the commit: %s: %s", type(error).__name__, error)
            undo()
            raise QueueUnavailable() from error

    transaction.on_commit(send_or_undo)
