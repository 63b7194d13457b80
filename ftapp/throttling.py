"""DRF's throttles, counting in the shared cache (Redis) while it answers and in the process's own
memory while it does not.

An outage of Redis must not take the API down with it: claims, judgments and reads need only
PostgreSQL. Failing open would also lift the token endpoint's limit on password guesses for as
long as Redis is away (an outage a client may even cause), so the counts fall back to a local
count per process instead: the limits then apply per process, as they do when REDIS_URL is unset.
After a failure Redis is left alone for ``RECHECK_SECONDS``, so a request does not wait on an
unreachable server each time; the outage is logged when it begins and when it ends, not at every
request.
"""

import logging
import threading
import time
from typing import Any

import redis
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from rest_framework import throttling

logger = logging.getLogger(__name__)

RECHECK_SECONDS = 10.0


class FallbackCache:
    """The two cache calls a throttle makes, against the shared cache or the local one."""

    def __init__(self) -> None:
        # One entry per client and scope: the default of 300 would drop counts (and so lift
        # limits) as soon as that many clients called.
        self.local = LocMemCache("ftapp-throttle-fallback", {"OPTIONS": {"MAX_ENTRIES": 100_000}})
        self._lock = threading.Lock()
        self._shared_down_until = 0.0

    def get(self, key: str, default: Any = None) -> Any:
        return self._call("get", key, default)

    def set(self, key: str, value: Any, timeout: float | None = None) -> None:
        self._call("set", key, value, timeout)

    def _call(self, method: str, *args: Any) -> Any:
        if time.monotonic() >= self._shared_down_until:
            try:
                result = getattr(cache, method)(*args)
            except (redis.RedisError, OSError) as error:
                self._shared_down(error)
            else:
                self._shared_up()
                return result
        return getattr(self.local, method)(*args)

    def _shared_down(self, error: Exception) -> None:
        with self._lock:
            first = self._shared_down_until == 0.0
            self._shared_down_until = time.monotonic() + RECHECK_SECONDS
        if first:
            logger.warning(
                "The cache (Redis) is failing (%s: %s): API throttles count in this process "
                "until it answers again.",
                type(error).__name__,
                error,
            )

    def _shared_up(self) -> None:
        if self._shared_down_until:
            with self._lock:
                recovered = self._shared_down_until != 0.0
                self._shared_down_until = 0.0
            if recovered:
                logger.info("The cache (Redis) answers again: API throttles count there.")


fallback_cache = FallbackCache()


class AnonRateThrottle(throttling.AnonRateThrottle):
    cache = fallback_cache  # type: ignore[assignment]  # the stubs ask for a Django cache


class UserRateThrottle(throttling.UserRateThrottle):
    cache = fallback_cache  # type: ignore[assignment]  # the stubs ask for a Django cache


class ScopedRateThrottle(throttling.ScopedRateThrottle):
    cache = fallback_cache  # type: ignore[assignment]  # the stubs ask for a Django cache
