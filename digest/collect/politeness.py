"""Reading other people's servers politely: when to look at a feed again, how long
to back off after a failure, and how many requests one host gets at once.

When a feed is checked next. The configured interval is the collection schedule
itself (COLLECT_SCHEDULE, the beat entry): every run looks at every active feed
and fetches the ones that are due. After a good fetch a feed is due again at the
latest of what it asked for, each capped at HINT_MAX: the response's
`Cache-Control: max-age`, the feed's RSS `<ttl>`, and the first hour outside its
`<skipHours>`/`<skipDays>` (UTC). A hint shorter than the interval changes
nothing: the next run comes later anyway. After a failed fetch the wait doubles
from FIRST_BACKOFF up to FEED_BACKOFF_MAX_HOURS, and a `Retry-After` (429, 503)
lengthens it, up to RETRY_AFTER_CAP. Skipped hours are never fetched in, whatever
made the feed due, unless an operator forces a collection.

Per host. `HostGate` lets at most PER_HOST_CONCURRENCY requests run against one
host at once, and starts them at least PER_HOST_DELAY seconds apart, across every
process that collects (the slots live in Redis: digest.store.hosts). A fetch that
cannot get a slot soon enough raises `HostBusy` (a FetchError, not a failure of
the feed): the caller tries that feed again later and fetches others meanwhile.
Slots are not handed out in the order they were asked for: whoever asks first
after one frees up takes it (no queue to keep, nothing left behind by a waiter
that went away).
"""

from __future__ import annotations

import contextlib
import math
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import httpx

from digest.errors import FetchError

if TYPE_CHECKING:
    from digest.config import Settings
    from digest.store.hosts import HostSlots

# The longest a Cache-Control max-age or an RSS ttl can put off a feed's next check.
HINT_MAX = timedelta(hours=24)
# A hint's due time is brought forward by this share of it (at most EARLY_MAX), so
# that a run starting a little before the exact minute still fetches the feed
# instead of leaving it for the run after.
EARLY_SHARE = 0.1
EARLY_MAX = timedelta(minutes=5)
FIRST_BACKOFF = timedelta(minutes=15)
RETRY_AFTER_CAP = timedelta(days=7)
# A slot is held at most this long past the fetch deadline (a worker killed mid-fetch frees it then).
LEASE_MARGIN = 30.0

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MAX_AGE = re.compile(r'^\s*max-age\s*=\s*"?(\d{1,12})"?\s*$', re.IGNORECASE)


# -- when to check again ------------------------------------------------------------------


def cache_max_age(header: str | None) -> float | None:
    """Seconds from a Cache-Control header's max-age; None when absent, garbage or no-cache/no-store."""
    if not header or len(header) > 1000:
        return None
    seconds = None
    for directive in header.split(","):
        name = directive.strip().lower()
        if name in ("no-cache", "no-store"):
            return None
        match = _MAX_AGE.match(directive)
        if match:
            seconds = float(match.group(1))
    return seconds


def skipped(when: datetime, skip_hours: Iterable[int], skip_days: Iterable[int]) -> bool:
    """Is `when` (aware) in an hour or on a day the feed asked readers to skip (UTC)?"""
    hours, days = set(skip_hours), set(skip_days)
    if len(hours) >= 24 or len(days) >= 7:
        return False  # "never read me" is not a schedule: ignored
    utc = when.astimezone(timezone.utc)
    return utc.hour in hours or utc.weekday() in days


def after_skips(when: datetime, skip_hours: Iterable[int], skip_days: Iterable[int]) -> datetime:
    """The first moment at or after `when` outside the skipped hours and days."""
    hours, days = set(skip_hours), set(skip_days)
    if not skipped(when, hours, days):
        return when
    start = when.replace(minute=0, second=0, microsecond=0)
    for step in range(1, 24 * 7 + 1):
        candidate = start + timedelta(hours=step)
        if not skipped(candidate, hours, days):
            return candidate
    return when  # unreachable: skipped() ignores a week with every hour skipped


def next_check(
    now: datetime, *, max_age: float | None = None, ttl_minutes: int | None = None,
    skip_hours: Iterable[int] = (), skip_days: Iterable[int] = (),
) -> datetime | None:
    """When a feed fetched well at `now` is due again; None: at the next collection run."""
    hints = [timedelta(seconds=s) for s in (max_age, ttl_minutes * 60 if ttl_minutes else None)
             if s is not None and math.isfinite(s) and s > 0]
    due = None
    if hints:
        wait = min(max(hints), HINT_MAX)
        due = now + wait - min(wait * EARLY_SHARE, EARLY_MAX)
    after = after_skips(due or now, skip_hours, skip_days)
    return after if after != now else None


def backoff(
    error_count: int, now: datetime, *, max_hours: float, retry_after: float | None = None,
    skip_hours: Iterable[int] = (), skip_days: Iterable[int] = (),
) -> datetime:
    """When a feed that has now failed `error_count` times in a row is tried again."""
    exponent = min(max(0, error_count - 1), 20)  # 2**20 quarter hours is past any cap
    delay = min(FIRST_BACKOFF * 2**exponent, timedelta(hours=min(max_hours, 24 * 366)))
    if retry_after and math.isfinite(retry_after) and retry_after > 0:
        delay = max(delay, timedelta(seconds=min(retry_after, RETRY_AFTER_CAP.total_seconds())))
    return after_skips(now + delay, skip_hours, skip_days)


# -- one host, many workers ----------------------------------------------------------------


class HostBusy(FetchError):
    """The host's slots stayed taken for longer than the caller would wait; `retry_after` says when to ask again."""


def host_of(url: str | httpx.URL) -> str:
    """The name requests to `url` are counted under: its host, lower-case (IDNA for names)."""
    raw = (url if isinstance(url, httpx.URL) else httpx.URL(url)).raw_host
    return raw.decode("ascii", "replace").lower()


class HostGate:
    """At most `concurrency` requests at once per host, `delay` seconds apart, across processes."""

    def __init__(self, slots: HostSlots, *, concurrency: int, delay: float, lease: float) -> None:
        self.slots, self.concurrency, self.delay, self.lease = slots, concurrency, delay, lease

    @classmethod
    def from_settings(cls, slots: HostSlots, settings: Settings) -> HostGate:
        return cls(slots, concurrency=settings.per_host_concurrency, delay=settings.per_host_delay,
                   lease=settings.fetch_deadline + LEASE_MARGIN)

    @contextlib.contextmanager
    def slot(self, host: str, *, wait: float) -> Iterator[None]:
        """Hold one of `host`'s slots inside the block, waiting up to `wait` seconds for it; HostBusy if none came."""
        token = uuid.uuid4().hex
        give_up = time.monotonic() + max(0.0, wait)
        while True:
            pause = self.slots.take_host_slot(host, token, self.concurrency, self.delay, self.lease)
            if not pause:
                break
            if time.monotonic() + pause > give_up:
                raise HostBusy(f"{host}: {self.concurrency} requests already running or one just started; "
                               f"asking again in {pause:.2f} s", retry_after=pause)
            time.sleep(pause)
        try:
            yield
        finally:
            self.slots.free_host_slot(host, token)
