"""How many subscribers a list has in each status, for the editors' dashboard.

    P:list:{L}:status_counts    string JSON status -> count, kept STATUS_COUNTS_SECONDS

Only active subscribers have an index of their own (the send groups); every other
status needs a walk over the list's records. HSCAN walks them 1,000 at a time, so
Redis is never blocked, and the answer is kept for a minute, so a busy dashboard
walks a million-subscriber list at most once a minute (about a second).
"""

from __future__ import annotations

import json

from digest.store.base import StoreBase

STATUS_COUNTS_SECONDS = 60


class StatusCounts(StoreBase):
    def status_counts(self, list_slug: str, fresh: bool = False) -> dict[str, int]:
        cache = self.key("list", list_slug, "status_counts")
        if not fresh and (raw := self.r.get(cache)):
            return json.loads(raw)  # type: ignore[no-any-return]
        counts: dict[str, int] = {}
        for _, record in self.r.hscan_iter(self.key("list", list_slug, "subs"), count=1000):
            status = record.split("|", 3)[2]  # store/subscribers.py Record: seq|mask|status|...
            counts[status] = counts.get(status, 0) + 1
        self.r.set(cache, json.dumps(counts), ex=STATUS_COUNTS_SECONDS)
        return counts
