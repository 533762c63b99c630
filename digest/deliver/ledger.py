"""The send ledger: which batches of an issue exist and what happened to each.

Keys (built with Store.key, under the same prefix as the rest of the store):

    P:issue:{I}                 hash  list, created, subject, status, halt reason
    P:issue:{I}:rendered        string the RenderedIssue JSON every batch is built from
    P:issue:{I}:rcpt:{mask}     zset  frozen copy of list:{L}:sel:{mask} when the send began
    P:issue:{I}:segments        hash  batch id -> its recipients: "mask:start:count;..."
    P:issue:{I}:batches         hash  batch id -> state (see below)
    P:issue:{I}:info            hash  batch id -> JSON: recipients, attempts, last error
    P:issue:{I}:counts          hash  planned, accepted, suppressed, failed, requests
    P:issue:{I}:lease:{B}       string the claim's token while a sender holds batch B (expires)
    P:list:{L}:issues           zset  issue ids by creation time
    P:list:{L}:archive:rev      string set anew, in the same step, by every write here that adds an
                                      issue or changes its status: the public archive and its feed
                                      are kept by it (store/archive.py), so no other write may change
                                      what they show

Every one of them is stored under its list's hash tag (P:{list:L}:issue:I:..., the
list read from the issue id, store/base.py), so the copy, the claim and the fetch,
which touch the list's keys and the issue's together, run in one slot of a cluster.

A batch is a list of segments, rank ranges of frozen copies whose topic choices
all come to the same variant (the same sections this week), so one request
carries one variant and batches fill up to 1,000 even when choices are many.
A batch is a fixed set of addresses from the moment the issue is planned.

## The guarantee: every (issue, subscriber) pair is handed to SendGrid at most once

    pending ──claim──▶ submitting|T ──accepted──▶ accepted
       ▲                  │  │  └──400───────────▶ failed
       │                  │  └──429/5xx/refused──▶ retry ──claim──▶ submitting|T'
       └──401/403 (halt)──┘
    submitting|T found by another claim ──▶ unconfirmed|T  (operator: resend | mark-sent)

1. Each subscriber is in exactly one frozen copy once (a zset holds a member once;
   all copies are taken in one MULTI, so a subscriber changing topics mid-copy is
   in exactly one of them), and each rank of a copy is in exactly one segment of
   exactly one batch.
2. A batch is only sent by whoever moved it to submitting|T with a random token
   T, atomically (Lua). Only pending and retry can be claimed; both mean "known
   not handed over".
3. A batch goes back to retry or pending only when the sender knows SendGrid did
   not take it (an HTTP error status, or a connection that failed before the
   request was written). A request that was sent but got no answer is left
   unconfirmed: resending could deliver twice.
4. A worker that dies mid-request leaves submitting|T. Its task is redelivered
   (acks_late, reject_on_worker_lost); the new claim finds submitting, cannot know
   whether SendGrid got the request, and marks the batch unconfirmed instead of
   sending. If the first worker was only slow, its own report (same T) still
   lands. So a crash can leave only the batches in flight at that instant
   unconfirmed; `digest send status` lists them and the operator resolves each.
   A claim also takes a lease (SENDGRID_TIMEOUT plus a margin, renewed with the
   suppression read, milliseconds before the request); a batch still submitting when its lease runs
   out is marked unconfirmed by the next look at the issue's status, so a dead
   sender shows within a minute, not after the broker's visibility timeout.

A halted issue (the key refused, or an editor's pause) lets no batch be claimed:
the claim reads `halted` in the same Lua step that would take the batch, so once
`pause` returns, no batch not yet claimed is sent; batches in flight finish. Its
batches stay pending, and `resume` (then queueing the open batches again) sends
each of them once: the claim, not the queue, decides who sends.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from digest.addresses import address_hash
from digest.errors import InvalidInput
from digest.store import Store
from digest.store.archive import new_rev
from digest.store.base import issue_list

Segment = tuple[int, int, int]  # mask, first rank, count

# KEYS: subscriber records, then one frozen copy per segment (all under the list's
# hash tag). ARGV: first and last rank per segment. The suppression list is global
# (another slot on a cluster), so it is read in a second round trip (suppressed()).
def _read_batch(records: int, first_copy: int, first_rank: int) -> str:
    """Lua that reads a batch's addresses into `emails` (KEYS[first_copy] on are its
    segments' frozen copies, ARGV[first_rank] on their first and last ranks) and their
    subscriber records into `records` (from the hash KEYS[records])."""
    return f"""
local emails = {{}}
for i = {first_copy}, #KEYS do
  local part = redis.call('ZRANGE', KEYS[i], ARGV[2 * (i - {first_copy}) + {first_rank}],
                          ARGV[2 * (i - {first_copy}) + {first_rank + 1}])
  for _, e in ipairs(part) do emails[#emails + 1] = e end
end
local records = {{}}
if #emails > 0 then records = redis.call('HMGET', KEYS[{records}], unpack(emails)) end
"""


_FETCH = _read_batch(1, 2, 1) + "return {emails, records}\n"

STATES = ("pending", "submitting", "retry", "accepted", "failed", "unconfirmed", "skipped")
# How long a claim holds before a batch still "submitting" counts as its sender's
# crash, when the caller gives none (send.py gives SENDGRID_TIMEOUT + a margin).
LEASE_SECONDS = 45

# The claim, shared by _CLAIM and _CLAIM_AND_FETCH. KEYS: batches hash, issue hash, the
# batch's lease. ARGV: batch id, token, lease seconds. _CLAIM_CHECK returns {state} when
# the batch cannot be claimed (a batch left submitting by a dead sender becomes
# unconfirmed); _CLAIM_TAKE claims it.
_CLAIM_CHECK = """
local s = redis.call('HGET', KEYS[1], ARGV[1])
if not s then return {'missing'} end
if redis.call('HEXISTS', KEYS[2], 'halted') == 1 then return {'halted'} end
local kind = string.match(s, '^[a-z]+')
if kind == 'submitting' then
  redis.call('HSET', KEYS[1], ARGV[1], 'unconfirmed|' .. string.sub(s, 12))
  return {'unconfirmed'}
end
if kind ~= 'pending' and kind ~= 'retry' then return {kind} end
"""
_CLAIM_TAKE = """
redis.call('HSET', KEYS[1], ARGV[1], 'submitting|' .. ARGV[2])
redis.call('SET', KEYS[3], ARGV[2], 'EX', ARGV[3])
"""
_CLAIM = _CLAIM_CHECK + _CLAIM_TAKE + "return {'claimed'}\n"

# _CLAIM, and when it claims, _FETCH's reads (_read_batch) in the same step: one round trip where
# there were two. The reads come before the claim's writes, so a script that fails
# midway has claimed nothing (Redis does not roll a script back).
# KEYS: batches hash, issue hash, the batch's lease, subscriber records, then one
# frozen copy per segment (every one under the list's hash tag). ARGV: batch id,
# token, lease seconds, then first and last rank per segment.
_CLAIM_AND_FETCH = _CLAIM_CHECK + _read_batch(4, 5, 4) + _CLAIM_TAKE + "return {'claimed', emails, records}\n"

# Only the holder of token T reports; a late report after another claim marked the
# batch unconfirmed|T still lands, since it is the truth. Counters move with it.
# KEYS: batches, counts, info. ARGV: batch, token, new state, info json, then
# counter name/increment pairs.
_FINISH = """
local s = redis.call('HGET', KEYS[1], ARGV[1])
if s ~= 'submitting|' .. ARGV[2] and s ~= 'unconfirmed|' .. ARGV[2] then return 0 end
local new = ARGV[3]
if new == 'unconfirmed' then new = 'unconfirmed|' .. ARGV[2] end
redis.call('HSET', KEYS[1], ARGV[1], new)
redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
for i = 5, #ARGV, 2 do redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1]) end
return 1
"""

# A submitting batch whose lease ran out: its sender died (or hangs) mid-request.
# Nobody can know whether SendGrid got it, so it is unconfirmed, as a redelivered
# claim would find it; the holder's own late report (same token) still lands.
# KEYS: batches, lease. ARGV: batch. Returns 1 if it moved.
# KEYS: issue hash, its list's archive revision. ARGV: reason, who, a new revision.
# Only a send under way can be paused.
_PAUSE = """
if redis.call('HGET', KEYS[1], 'status') ~= 'sending' then return 0 end
redis.call('HSET', KEYS[1], 'halted', ARGV[1], 'status', 'halted', 'paused_by', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
return 1
"""

# KEYS: issue hash, its list's archive revision. ARGV: '1' to lift only an editor's pause
# (not a refused key's halt), a new revision.
_RESUME = """
if redis.call('HEXISTS', KEYS[1], 'halted') == 0 then return 0 end
if ARGV[1] == '1' and redis.call('HEXISTS', KEYS[1], 'paused_by') == 0 then return 0 end
redis.call('HDEL', KEYS[1], 'halted', 'paused_by')
redis.call('HSET', KEYS[1], 'status', 'sending')
redis.call('SET', KEYS[2], ARGV[2])
return 1
"""

_STALE = """
local s = redis.call('HGET', KEYS[1], ARGV[1])
if not s or string.match(s, '^[a-z]+') ~= 'submitting' then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], 'unconfirmed|' .. string.sub(s, 12))
return 1
"""

# KEYS: batches, counts, info. ARGV: batch, from-kind, to-state, counter, n.
_RESOLVE = """
local s = redis.call('HGET', KEYS[1], ARGV[1])
if not s or string.match(s, '^[a-z]+') ~= ARGV[2] then return s or 'missing' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[4] ~= '' then redis.call('HINCRBY', KEYS[2], ARGV[4], ARGV[5]) end
return 'ok'
"""


def state_kind(state: str) -> str:
    return state.split("|", 1)[0]


@dataclass
class IssueStatus:
    issue_id: str
    meta: dict[str, str]
    counts: dict[str, int]
    states: dict[str, int]
    problems: list[dict[str, Any]] = field(default_factory=list)  # unconfirmed and failed

    @property
    def finished(self) -> bool:
        open_states = ("pending", "submitting", "retry")
        return "halted" in self.meta or not any(self.states.get(s) for s in open_states)


class Ledger:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.r = store.r
        self._claim = self.r.register_script(_CLAIM)
        self._finish = self.r.register_script(_FINISH)
        self._resolve = self.r.register_script(_RESOLVE)
        self._stale = self.r.register_script(_STALE)
        self._fetch = self.r.register_script(_FETCH)
        self._claim_and_fetch = self.r.register_script(_CLAIM_AND_FETCH)
        self._pause = self.r.register_script(_PAUSE)
        self._resume = self.r.register_script(_RESUME)

    def k(self, issue_id: str, *parts: object) -> str:
        return self.store.key("issue", issue_id, *parts)

    def _archive_rev(self, issue_id: str) -> str | None:
        """The archive revision key of the issue's list (None: no such issue), which every write
        of an issue's status sets with it (module docstring)."""
        list_slug = self.r.hget(self.k(issue_id), "list")
        return self.store.archive_rev_key(list_slug) if list_slug else None

    # -- planning --------------------------------------------------------------

    def new_issue_id(self, list_slug: str, day: str) -> str:
        n = self.r.incr(self.store.key("list", list_slug, "issue_seq"))
        return f"{list_slug}-{day}-{n}"

    def create(self, issue_id: str, list_slug: str, meta: dict[str, str], rendered_json: str) -> None:
        if issue_list(issue_id) != list_slug and self.store.cluster:
            raise InvalidInput(f"issue id {issue_id!r} does not name list {list_slug!r}: on a cluster its keys "
                               "and the list's would lie in different slots")
        with self.r.pipeline() as pipe:
            pipe.hset(self.k(issue_id), mapping={"list": list_slug, "created": str(time.time()), **meta})
            pipe.set(self.k(issue_id, "rendered"), rendered_json)
            pipe.zadd(self.store.key("list", list_slug, "issues"), {issue_id: time.time()})
            pipe.set(self.store.archive_rev_key(list_slug), new_rev())
            pipe.execute()

    def freeze(self, issue_id: str, list_slug: str, masks: list[int]) -> dict[int, int]:
        """Copy every topic-choice set of the list in one transaction; return sizes."""
        with self.r.pipeline(transaction=True) as pipe:
            for mask in masks:
                pipe.copy(self.store.key("list", list_slug, "sel", mask), self.k(issue_id, "rcpt", mask), replace=True)
            for mask in masks:
                pipe.zcard(self.k(issue_id, "rcpt", mask))
            sizes = pipe.execute()[len(masks):]
        return dict(zip(masks, sizes, strict=True))

    def add_batches(
        self, issue_id: str, batches: dict[str, list[Segment]], planned: int, skipped: int,
    ) -> None:
        ids = list(batches)
        rev_key = self._archive_rev(issue_id)
        with self.r.pipeline() as pipe:
            for i in range(0, len(ids), 1000):
                chunk = ids[i:i + 1000]
                pipe.hset(self.k(issue_id, "segments"), mapping={
                    b: ";".join(f"{m}:{s}:{n}" for m, s, n in batches[b]) for b in chunk})
                pipe.hset(self.k(issue_id, "batches"), mapping={b: "pending" for b in chunk})
            pipe.hset(self.k(issue_id, "counts"), mapping={"planned": planned, "no_section": skipped})
            pipe.hset(self.k(issue_id), "status", "sending")
            if rev_key:
                pipe.set(rev_key, new_rev())
            pipe.execute()

    def drop_copy(self, issue_id: str, mask: int) -> None:
        self.r.delete(self.k(issue_id, "rcpt", mask))

    # -- reading ---------------------------------------------------------------

    def meta(self, issue_id: str) -> dict[str, str]:
        return self.r.hgetall(self.k(issue_id))

    def rendered_json(self, issue_id: str) -> str | None:
        return self.r.get(self.k(issue_id, "rendered"))

    def segments(self, issue_id: str, batch_id: str) -> list[Segment]:
        raw = self.r.hget(self.k(issue_id, "segments"), batch_id) or ""
        return [tuple(map(int, seg.split(":"))) for seg in raw.split(";") if seg]  # type: ignore[misc]

    def members(self, issue_id: str, batch_id: str) -> list[str]:
        found: list[str] = []
        for mask, start, count in self.segments(issue_id, batch_id):
            found += self.r.zrange(self.k(issue_id, "rcpt", mask), start, start + count - 1)
        return found

    def fetch(
        self, issue_id: str, segments: list[Segment], records_key: str, suppressed_key: str,
    ) -> tuple[list[str], list[str | None], list[str | None]]:
        """A batch's addresses, their subscriber records and suppression entries (plain or
        hashed), without claiming it: two round trips, three once anyone has been forgotten.
        (send_batch claims and reads in one: claim_and_fetch, then suppressed.)"""
        keys = [records_key, *(self.k(issue_id, "rcpt", m) for m, _, _ in segments)]
        args = [x for _, start, count in segments for x in (start, start + count - 1)]
        emails, records = self._fetch(keys=keys, args=args)
        if not emails:
            return [], [], []
        return emails, [r or None for r in records], self.suppressed(emails, suppressed_key)

    def claim_and_fetch(
        self, issue_id: str, batch_id: str, token: str, segments: list[Segment], records_key: str,
        lease: float = LEASE_SECONDS,
    ) -> tuple[str, list[str], list[str | None]]:
        """claim(), and when it claims, the batch's addresses and subscriber records, in one
        round trip; (outcome, [], []) when it does not. `segments`: the batch's (segments())."""
        keys = [self.k(issue_id, "batches"), self.k(issue_id), self.k(issue_id, "lease", batch_id), records_key,
                *(self.k(issue_id, "rcpt", m) for m, _, _ in segments)]
        args = [batch_id, token, max(1, int(lease)),
                *(x for _, start, count in segments for x in (start, start + count - 1))]
        answer = self._claim_and_fetch(keys=keys, args=args)
        if answer[0] != "claimed":
            return str(answer[0]), [], []
        return "claimed", answer[1], [r or None for r in answer[2]]

    def suppressed(
        self, emails: list[str], suppressed_key: str, hold: tuple[str, str, str, float] | None = None,
    ) -> list[str | None]:
        """Each address's suppression entry (plain or hashed), None if it has none: one
        round trip, two once anyone has been forgotten. Read after the claim and before
        the request, which is all "an unsubscribe during the send is honoured" needs.
        `hold` (issue, batch, token, lease) renews the claim's lease in the same trip."""
        if not emails:
            if hold:
                self.hold(*hold)
            return []
        hashed_key = self.store.hashed_suppression_key
        with self.r.pipeline(transaction=False) as pipe:  # {suppressed}: one node (and the lease: its list's)
            pipe.hmget(suppressed_key, emails)
            pipe.exists(hashed_key)
            if hold:
                self.hold(*hold, r=pipe)
            blocked, any_hashed, *_ = pipe.execute()
        blocked = [b or None for b in blocked]
        if any_hashed:  # Lua cannot hash: only once anyone was forgotten are the hashes asked for
            hashed = self.r.hmget(hashed_key, [address_hash(e) for e in emails])
            blocked = [b or h or None for b, h in zip(blocked, hashed, strict=True)]
        return blocked

    def batch_ids(self, issue_id: str, kinds: tuple[str, ...] | None = None) -> list[str]:
        rows = self.r.hgetall(self.k(issue_id, "batches"))
        return sorted(b for b, s in rows.items() if kinds is None or state_kind(s) in kinds)

    def status(self, issue_id: str) -> IssueStatus:
        """Every batch's state and the issue's counts, as they truly are: batches whose
        sender died mid-request are marked unconfirmed first (expire_stale)."""
        batches = self.r.hgetall(self.k(issue_id, "batches"))
        if self.expire_stale(issue_id, batches):  # read again only when a batch moved
            batches = self.r.hgetall(self.k(issue_id, "batches"))
        meta = self.meta(issue_id)
        states: dict[str, int] = {}
        problems = []
        info = self.r.hgetall(self.k(issue_id, "info"))
        for batch, state in sorted(batches.items()):
            kind = state_kind(state)
            states[kind] = states.get(kind, 0) + 1
            if kind in ("unconfirmed", "failed"):
                problems.append({"batch": batch, "state": kind, "recipients": self.planned(issue_id, batch),
                                 **json.loads(info.get(batch, "{}"))})
        counts = {k: int(v) for k, v in self.r.hgetall(self.k(issue_id, "counts")).items()}
        return IssueStatus(issue_id, meta, counts, states, problems)

    def issues(self, list_slug: str) -> list[str]:
        return self.r.zrange(self.store.key("list", list_slug, "issues"), 0, -1)

    # -- the state machine -----------------------------------------------------

    def claim(self, issue_id: str, batch_id: str, token: str, lease: float = LEASE_SECONDS) -> str:
        """Take a batch to send it, with a lease of `lease` seconds (renew it with `hold`)."""
        keys = [self.k(issue_id, "batches"), self.k(issue_id), self.k(issue_id, "lease", batch_id)]
        return str(self._claim(keys=keys, args=[batch_id, token, max(1, int(lease))])[0])

    def hold(self, issue_id: str, batch_id: str, token: str, lease: float, r: Any = None) -> None:
        """Renew a claimed batch's lease, just before its request goes out (`r`: a pipeline to queue it on)."""
        (r or self.r).set(self.k(issue_id, "lease", batch_id), token, ex=max(1, int(lease)), xx=True)

    def expire_stale(self, issue_id: str, batches: dict[str, str] | None = None) -> list[str]:
        """Mark unconfirmed every submitting batch whose lease ran out (its sender died
        mid-request), so a crash shows within a lease instead of a visibility timeout.
        `batches`: the issue's batch states when the caller has just read them."""
        if batches is None:
            batches = self.r.hgetall(self.k(issue_id, "batches"))
        moved = []
        for batch_id, state in batches.items():
            if state_kind(state) == "submitting" and self._stale(
                    keys=[self.k(issue_id, "batches"), self.k(issue_id, "lease", batch_id)], args=[batch_id]):
                moved.append(batch_id)
        return moved

    def batch_state(self, issue_id: str, batch_id: str) -> str:
        """A batch's state; InvalidInput naming the issue or batch when there is no such thing."""
        if not self.r.exists(self.k(issue_id)):
            raise InvalidInput(f"unknown issue: {issue_id!r}")
        state = self.r.hget(self.k(issue_id, "batches"), batch_id)
        if state is None:
            raise InvalidInput(f"issue {issue_id} has no batch {batch_id!r}")
        return state

    def planned(self, issue_id: str, batch_id: str) -> int:
        """How many addresses a batch holds (before any suppression at send time)."""
        return sum(count for _, _, count in self.segments(issue_id, batch_id))

    def finish(
        self, issue_id: str, batch_id: str, token: str, state: str, info: dict[str, Any],
        **counters: int,
    ) -> bool:
        args: list[Any] = [batch_id, token, state, json.dumps(info)]
        for name, n in counters.items():
            args += [name, n]
        keys = [self.k(issue_id, "batches"), self.k(issue_id, "counts"), self.k(issue_id, "info")]
        return bool(self._finish(keys=keys, args=args))

    def resolve(self, issue_id: str, batch_id: str, *, resend: bool) -> str:
        """Operator's call on an unconfirmed (or failed) batch: send it again, or count it sent."""
        keys = [self.k(issue_id, "batches"), self.k(issue_id, "counts"), self.k(issue_id, "info")]
        info = json.loads(self.r.hget(self.k(issue_id, "info"), batch_id) or "{}")
        recipients = info.get("recipients", self.planned(issue_id, batch_id))  # no report: what it held
        for kind in ("unconfirmed", "failed"):
            if resend:
                result = self._resolve(keys=keys, args=[batch_id, kind, "retry", "", 0])
            else:
                result = self._resolve(keys=keys, args=[batch_id, kind, "accepted", "accepted", recipients])
            if result == "ok":
                return "resend" if resend else "marked sent"
        return f"left alone (state {result})"

    def halt(self, issue_id: str, reason: str) -> None:
        rev_key = self._archive_rev(issue_id)
        with self.r.pipeline() as pipe:
            pipe.hset(self.k(issue_id), mapping={"halted": reason, "status": "halted"})
            if rev_key:
                pipe.set(rev_key, new_rev())
            pipe.execute()

    def pause(self, issue_id: str, by: str) -> bool:
        """Hold a send under way (module docstring); False when it is not sending."""
        rev_key = self._archive_rev(issue_id)
        if rev_key is None:  # no such issue
            return False
        return bool(self._pause(keys=[self.k(issue_id), rev_key], args=[f"paused by {by}", by, new_rev()]))

    def resume(self, issue_id: str, *, paused_only: bool = False) -> bool:
        """Lift a halt or pause (`paused_only`: an editor's pause only); the caller queues the
        open batches again. False when there was nothing to lift."""
        rev_key = self._archive_rev(issue_id)
        if rev_key is None:  # no such issue
            return False
        return bool(self._resume(keys=[self.k(issue_id), rev_key], args=["1" if paused_only else "0", new_rev()]))

    def mark_done_if_finished(self, issue_id: str) -> bool:
        status = self.status(issue_id)
        if status.finished and "halted" not in status.meta:
            if status.meta.get("status") == "done":  # already: no write, and the archive is as it was
                return True
            with self.r.pipeline() as pipe:
                pipe.hset(self.k(issue_id), "status", "done")
                if status.meta.get("list"):
                    pipe.set(self.store.archive_rev_key(status.meta["list"]), new_rev())
                pipe.execute()
            return True
        return False
