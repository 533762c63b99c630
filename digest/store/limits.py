"""Fixed-window counters: how often one client, or one address, may ask for something.

    P:limit:{name}:{window number}:{sha256(subject)[:32]}   counter, expires after two windows

A fixed window lets up to twice the limit through across a window's edge; for
sign-up abuse that is enough, and it costs one INCR per request (a sliding log
would keep a sorted set per client). Subjects are hashed so that no address or
IP ends up in a key name.
"""

from __future__ import annotations

import hashlib
import time

from digest.store.base import StoreBase


class RateLimits(StoreBase):
    def _window(self, name: str, subject: str, window: int, now: float | None) -> tuple[str, float]:
        """The key of `subject`'s counter in the window that `now` falls in, and the seconds until it ends."""
        now = time.time() if now is None else now
        number = int(now // window)
        key = self.key("limit", name, number, hashlib.sha256(subject.encode()).hexdigest()[:32])
        return key, (number + 1) * window - now

    def hit_limit(self, name: str, subject: str, limit: int, window: int, now: float | None = None) -> float:
        """Count one event of `subject`; 0 while within `limit` per `window` seconds, else the
        seconds until the window ends (the event is counted either way)."""
        key, left = self._window(name, subject, window, now)
        with self.r.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, window * 2)
            count, _ = pipe.execute()
        return 0.0 if count <= limit else left

    def limit_reached(self, name: str, subject: str, limit: int, window: int, now: float | None = None) -> float:
        """Like hit_limit's answer for one more event, without counting one: for checks that count only
        failures (0: the next one is within the limit)."""
        key, left = self._window(name, subject, window, now)
        count = int(self.r.get(key) or 0)
        return 0.0 if count < limit else left
