"""A concurrency limit per model endpoint that holds across every worker process: a Redis
sorted set of leases, each expiring on its own so a killed worker's slot comes back. Without
Redis (the in-process demo) a semaphore in this process does the same job."""

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
_local: dict[str, threading.BoundedSemaphore] = {}
_local_guard = threading.Lock()
_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL)
    return _client


@contextmanager
def endpoint_slot(endpoint_id: int, limit: int, lease_seconds: float, poll: float = 0.05):
    """Blocks until fewer than ``limit`` requests to the endpoint are in flight anywhere,
    then holds a slot for the duration of the ``with`` block (at most ``lease_seconds``)."""
    if not settings.REDIS_URL:
        with _local_guard:
            semaphore = _local.setdefault(
                f"{endpoint_id}:{limit}", threading.BoundedSemaphore(limit)
            )
        with semaphore:
            yield
        return
    key = f"ftapp:endpoint:{endpoint_id}:inflight"
    token = uuid.uuid4().hex
    script = _redis().register_script(_ACQUIRE)
    while True:
        now = time.time()
        expires = now + lease_seconds
        if script(
            keys=[key], args=[now, limit, expires, token, int(lease_seconds * 1000) + 60_000]
        ):
            break
        time.sleep(poll)
    try:
        yield
    finally:
        _redis().zrem(key, token)
