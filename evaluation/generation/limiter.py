"""A concurrency limit per model endpoint that holds across every worker process: a Redis
sorted set of leases, each expiring on its own so a killed worker's slot comes back. Without
Redis (the in-process demo) a semaphore in this process does the same job. While Redis is
down, callers wait for it; a Redis restarted without persistence forgets the slots held, so
for the length of the requests then in flight the limit may be exceeded by as many."""

import logging
import threading
import time
import uuid
from contextlib import contextmanager

import redis
from django.conf import settings

_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
"""
OUTAGE_POLL_SECONDS = 0.5
logger = logging.getLogger(__name__)
_unreleased: set[tuple[str, str]] = set()
_local: dict[str, threading.BoundedSemaphore] = {}
_local_guard = threading.Lock()
_client: redis.Redis | None = None


def _redis(url: str) -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(url)
    return _client


@contextmanager
def endpoint_slot(endpoint_id: int, limit: int, lease_seconds: float, poll: float = 0.05):
    """Blocks until fewer than ``limit`` requests to the endpoint are in flight anywhere,
    then holds a slot for the duration of the ``with`` block (at most ``lease_seconds``)."""
    url = settings.REDIS_URL
    if not url:
        with _local_guard:
            semaphore = _local.setdefault(
                f"{endpoint_id}:{limit}", threading.BoundedSemaphore(limit)
            )
        with semaphore:
            yield
        return
    key = f"ftapp:endpoint:{endpoint_id}:inflight"
    token = uuid.uuid4().hex
    script = _redis(url).register_script(_ACQUIRE)
    warned = False
    while True:
        now = time.time()
        expires = now + lease_seconds
        try:
            for stale_key, stale_token in list(_unreleased):
                _redis(url).zrem(stale_key, stale_token)
                _unreleased.discard((stale_key, stale_token))
            acquired = script(
                keys=[key], args=[now, limit, expires, token, int(lease_seconds * 1000) + 60_000]
            )
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # Redis is restarting: wait for it rather than fail the item, so an outage delays
            # the run instead of breaking it (the task's soft time limit bounds the wait).
            if not warned:
                logger.warning("Redis unreachable for the concurrency limit, waiting: %s", exc)
                warned = True
            time.sleep(OUTAGE_POLL_SECONDS)
            continue
        if acquired:
            break
        time.sleep(poll)
    try:
        yield
    finally:
        try:
            _redis(url).zrem(key, token)
        except redis.RedisError:
            # Redis is down. A restarted Redis that kept its data (appendonly) would hold this
            # slot until the lease lapses, so it is released at this process's next acquire.
            _unreleased.add((key, token))
