"""A global send rate (emails per second) shared by every worker, kept in Redis.

Generic cell rate: Redis holds the time at which the next email may go out. A
worker reserving n emails moves that time forward by n/rate and sleeps until its
own slot: an idle limiter lets a batch go at once, and the next one waits for the
time the first one "used". One round trip per batch, no polling, fair across
machines.
"""

from __future__ import annotations

import time

from digest.store import Store

# KEYS: the slot key. ARGV: now, seconds per email, n.
_RESERVE = """
local now = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(now, tat)
local done = start + tonumber(ARGV[2]) * tonumber(ARGV[3])
redis.call('SET', KEYS[1], tostring(done), 'EX', math.ceil(done - now) + 60)
return tostring(math.max(0, start - now))
"""


class RateLimiter:
    def __init__(self, store: Store, per_second: float) -> None:
        self.key = store.key("ratelimit", "send")
        self.per_second = per_second
        self._reserve = store.r.register_script(_RESERVE)

    def reserve(self, n: int) -> float:
        """Reserve n emails; return how long to wait before sending them."""
        wait = self._reserve(keys=[self.key], args=[time.time(), 1.0 / self.per_second, n])
        return float(wait)

    def acquire(self, n: int) -> None:
        wait = self.reserve(n)
        if wait > 0:
            time.sleep(wait)
