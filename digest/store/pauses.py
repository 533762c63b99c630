"""When paused readers come back.

    P:list:{L}:paused   zset  email -> paused_until (Unix time)

The subscriber's record is the truth (status "paused", profile paused_until);
this index only says whom to look at, so resuming a list's due pauses reads the
few that are due, not every subscriber.
"""

from __future__ import annotations

from datetime import datetime

from digest.store.base import StoreBase


class PauseIndex(StoreBase):
    def add_pause(self, list_slug: str, email: str, until: datetime) -> None:
        self.r.zadd(self.key("list", list_slug, "paused"), {email: until.timestamp()})

    def drop_pause(self, list_slug: str, email: str) -> None:
        self.r.zrem(self.key("list", list_slug, "paused"), email)

    def pauses_due(self, list_slug: str, now: datetime) -> list[str]:
        return list(self.r.zrangebyscore(self.key("list", list_slug, "paused"), "-inf", now.timestamp()))
