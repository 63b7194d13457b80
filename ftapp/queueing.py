"""Queueing work for the Celery workers from a web request, all or nothing.

The message goes out after the commit that records the work (an export, a run), so a worker
never looks for a row that is not there yet. Were the broker (Redis) unreachable at that point,
the row would stay ``queued`` with no message ever to come: so the broker is asked first, inside
the caller's transaction, and an unreachable one raises ``QueueUnavailable``, which rolls the
caller's writes back; should the send still fail after the commit (Redis gone in between, or a
caller that queues outside its transaction), the caller's ``undo`` takes the row out of the
queued state before the same error is raised. Pages show its message; the API answers 503 with
Retry-After.

Without a broker (the embedded demo: no REDIS_URL) Celery runs its tasks eagerly, in the
process that sends them; the send then happens in a background thread of the server process
(``BACKGROUND_WORK = "thread"``), through the same task code, so the request that started the
work returns at once and the page shows its progress like a worker's.
"""

import logging
import queue
import threading
from collections.abc import Callable

import kombu.exceptions
import redis
from django.conf import settings
from django.db import connection, connections, transaction

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


BACKGROUND_THREADS = 2
_background: queue.SimpleQueue[Callable[[], object]] = queue.SimpleQueue()
_background_threads: list[threading.Thread] = []
_background_lock = threading.Lock()


def _background_loop() -> None:
    while True:
        send = _background.get()
        try:
            send()
        except Exception:
            # The task records its own failure on its row (a run's items, an export's error);
            # what escapes it is a bug, for the log.
            logger.exception("Background work failed")
        finally:
            connections.close_all()


def run_in_background(send: Callable[[], object]) -> None:
    """Runs ``send`` in one of the process's background threads, which take work in the
    order it came. They are daemon threads: stopping the server does not wait for them, and
    a run they leave half-done is taken up again by cancelling and resuming it on its page."""
    with _background_lock:
        if not _background_threads:
            for number in range(BACKGROUND_THREADS):
                thread = threading.Thread(
                    target=_background_loop, name=f"ftapp-background-{number}", daemon=True
                )
                thread.start()
                _background_threads.append(thread)
    _background.put(send)


def enqueue_on_commit(send: Callable[[], object], *, undo: Callable[[], object]) -> None:
    """Calls ``send`` once the current transaction commits, having checked the broker first;
    outside a transaction, at once. ``send`` publishes the task; it should pass
    ``ignore_result=True`` when nobody waits for the result, or Celery's Redis result backend
    first subscribes to it and, with Redis away, retries for some twenty seconds before failing.
    ``undo`` runs when the send fails after the caller's writes were committed, and must leave
    no row waiting for a message that was not sent."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        # The task runs in-process within send(): its own errors are not the queue's.
        if settings.BACKGROUND_WORK == "thread":
            transaction.on_commit(lambda: run_in_background(send))
        else:
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
