"""Finding a list's subscribers by the start of their address, a page at a time.

    P:list:{L}:subs   hash  email -> Record (store/subscribers.py), read with HSCAN MATCH

A page costs Redis at most SCAN_BUDGET entries looked at, however large the
list: HSCAN walks the hash in cursor order, the page ends at PAGE_SIZE matches
or at the budget, and the cursor it returns is where the next page starts. So a
prefix that matches nobody in a million addresses answers in steps, never in one
long command; a whole address is one HGET.
"""

from __future__ import annotations

from dataclasses import dataclass

from digest.store.base import StoreBase
from digest.store.subscribers import Record

PAGE_SIZE = 50
SCAN_CURSOR_LIMIT = 2**64  # HSCAN takes an unsigned 64-bit cursor; any other is an error
SCAN_BUDGET = 20_000  # entries looked at per page (~10 ms of Redis time)
_GLOB = str.maketrans({c: f"\\{c}" for c in "*?[]\\"})


@dataclass(frozen=True)
class Found:
    email: str
    record: Record


@dataclass(frozen=True)
class SearchPage:
    found: list[Found]
    cursor: int  # where the next page starts; 0: no more


class SubscriberSearch(StoreBase):
    def search_subscribers(self, list_slug: str, prefix: str, cursor: int = 0,
                           page_size: int = PAGE_SIZE, budget: int = SCAN_BUDGET) -> SearchPage:
        """Subscribers whose address starts with `prefix` (lower case), from `cursor` on."""
        key = self.key("list", list_slug, "subs")
        prefix = prefix.strip().lower()
        if "@" in prefix and "." in prefix.rpartition("@")[2] and cursor == 0:
            raw = self.r.hget(key, prefix)  # a whole address: one lookup, then the scan for longer ones
            exact = [Found(prefix, Record.unpack(raw))] if raw else []
        else:
            exact = []
        pattern = prefix.translate(_GLOB) + "*"
        found: dict[str, Found] = {f.email: f for f in exact}
        looked, count = 0, page_size
        while True:
            cursor, page = self.r.hscan(key, cursor, match=pattern, count=count)
            looked += count
            for email, raw in page.items():
                found.setdefault(email, Found(email, Record.unpack(raw)))
            if cursor == 0 or len(found) >= page_size or looked >= budget:
                break
            # Look further per call while matches are sparse; a page stays near PAGE_SIZE.
            count = min(1000, count * 2) if len(page) < count // 4 else page_size
        return SearchPage(sorted(found.values(), key=lambda f: f.email), int(cursor))
