"""Per-host request slots, shared by every collecting process (politeness).

    P:host:{host}:slots   zset  token -> lease end (ms, Redis clock): requests running now
    P:host:{host}:next    string earliest start of the next request (ms), expires then

One script decides and takes a slot atomically, on Redis's clock (TIME), so
workers on machines whose clocks disagree still share one schedule. A slot is a
lease: a worker killed mid-fetch frees its slot when the lease ends, so a crash
never blocks a host for good. Both keys expire on their own.
"""

from __future__ import annotations

from functools import cached_property

from redis.commands.core import Script

from digest.store.base import StoreBase

# Returns {1, 0} when the slot is taken, else {0, milliseconds to wait before asking again}.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap, delay, lease = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= cap then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, math.max(1, math.min(tonumber(first[2]) - now, math.max(delay, 200)))}
end
local nextat = tonumber(redis.call('GET', KEYS[2]) or '0')
if now < nextat then
  return {0, nextat - now}
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease)
if delay > 0 then
  redis.call('SET', KEYS[2], now + delay, 'PX', delay)
end
return {1, 0}
"""


class HostSlots(StoreBase):
    @cached_property
    def _take_host_slot(self) -> Script:
        return self.r.register_script(_TAKE)

    def take_host_slot(self, host: str, token: str, cap: int, delay: float, lease: float) -> float:
        """Take one of `host`'s `cap` slots for `token`: 0.0 when taken, else seconds to wait first.

        `delay`: seconds between the starts of two requests to the host; `lease`:
        the longest a slot is held (a holder that dies frees it then).
        """
        taken, wait_ms = self._take_host_slot(
            keys=[self.key("host", host, "slots"), self.key("host", host, "next")],
            args=[token, cap, int(delay * 1000), max(1, int(lease * 1000))],
        )
        return 0.0 if int(taken) else max(0.001, int(wait_ms) / 1000)

    def free_host_slot(self, host: str, token: str) -> None:
        self.r.zrem(self.key("host", host, "slots"), token)
