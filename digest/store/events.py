"""What SendGrid's Event Webhook tells us: seen event ids, counts per issue, soft failures.

    P:issue:{I}:event:{sg_event_id}  string "1", expires after EVENT_MEMORY (dedupe)
    P:issue:{I}:events             hash  event type -> count (delivered, bounce, blocked, ...)
    P:events:unmatched             hash  event type -> count, for events naming no issue of ours
    P:events:event:{sg_event_id}   the dedupe key of such an event
    P:softfail:{email}             counter: consecutive blocks of an address; a delivery resets it
    P:issue:{I}:complaint_pause    string set once, when the issue's complaints paused its list

Why the dedupe key is set in the same script that counts: SendGrid retries a
batch for 24 hours and duplicates are common, so "count once" has to be one
atomic step (SET NX, then the counters), whoever else is applying the same batch.
A key per event costs about 100 bytes for two days. The dedupe key sits beside
the issue's counters (one slot on a cluster, so the step stays one script); the
address's run of blocks lives in another slot and moves in a second step, after
the count (a crash between them loses one block from a run, never counts twice).
"""

from __future__ import annotations

from functools import cached_property

import redis
from redis.commands.core import Script

from digest.models import DigestList
from digest.store.base import StoreBase

# SendGrid retries for 24 hours; remember ids twice as long.
EVENT_MEMORY = 48 * 3600
# How long a run of blocks is remembered without a new one (a weekly list sends ~13 times).
SOFTFAIL_MEMORY = 90 * 86400

# KEYS: dedupe, counters. ARGV: dedupe ttl, counter field. Returns 0 for an event
# already counted, 1 when this call counted it.
_RECORD = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
return 1
"""


class EventStore(StoreBase):
    def _event_key(self, event_id: str, issue_id: str | None) -> str:
        return self.key("issue", issue_id, "event", event_id) if issue_id else self.key("events", "event", event_id)

    def event_seen(self, event_id: str, issue_id: str | None) -> bool:
        return bool(self.r.exists(self._event_key(event_id, issue_id)))

    def record_event(self, event_id: str, issue_id: str | None, counter: str, email: str,
                     soft: str = "") -> int:
        """Count an event once: -1 if its id was already counted, else the address's run of
        consecutive blocks after it (`soft`: "incr" for a block, "reset" for a delivery)."""
        counters = self.key("issue", issue_id, "events") if issue_id else self.key("events", "unmatched")
        if not int(self._record(keys=[self._event_key(event_id, issue_id), counters], args=[EVENT_MEMORY, counter])):
            return -1
        softfail = self.key("softfail", email)
        if soft == "incr":
            with self.r.pipeline(transaction=False) as pipe:
                pipe.incr(softfail)
                pipe.expire(softfail, SOFTFAIL_MEMORY)
                return int(pipe.execute()[0])
        if soft == "reset":
            self.r.delete(softfail)
        return 0

    @cached_property
    def _record(self) -> Script:
        return self.r.register_script(_RECORD)

    def event_counts(self, issue_id: str) -> dict[str, int]:
        return {k: int(v) for k, v in self.r.hgetall(self.key("issue", issue_id, "events")).items()}

    def unmatched_event_counts(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.r.hgetall(self.key("events", "unmatched")).items()}

    def claim_complaint_pause(self, issue_id: str) -> bool:
        """True the first time only: an issue pauses its list once, so an editor who resumed
        it is not overruled by the same issue's late reports."""
        return bool(self.r.set(self.key("issue", issue_id, "complaint_pause"), "1", nx=True))

    def pause_schedule(self, list_slug: str, message: str) -> bool:
        """Pause a list's schedule with `message`; False if it has none or is paused already.

        Optimistic (WATCH): an editor saving the list at the same moment is not overwritten.
        """
        key = self.key("lists")
        with self.r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.hget(key, list_slug)
                    if raw is None:
                        return False
                    lst = DigestList.model_validate_json(raw)
                    if lst.schedule is None or lst.schedule.paused:
                        return False
                    paused = lst.model_copy(update={"schedule": lst.schedule.model_copy(update={"paused": message})})
                    pipe.multi()
                    pipe.hset(key, list_slug, paused.model_dump_json())
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue
