"""SendGrid's signed Event Webhook: check a request's signature, then apply its events.

`verify` (digest/webhook_signature.py) runs in the web process (one ECDSA P-256 check over the timestamp header
and the raw body, as SendGrid signs it); `apply_events` runs in a worker on the
raw body the web process queued, so the request is answered in milliseconds.

What each event does. "The list" is the one our `list` custom arg names (every
send carries it, with `issue`); an event without it touches only the suppression
list, since it came from mail digest did not send.

    event                        subscriber on the list    suppression list   counted as
    delivered                    -                         -                  delivered; ends a run of blocks
    bounce (type "bounce")       bounced                   yes                bounce
    bounce type "blocked",       bounced once the address  yes, then          blocked
      or blocked                 has SOFT_BOUNCE_LIMIT blocks in a row
    dropped                      by SendGrid's reason:     yes                dropped
                                 Bounced Address, Invalid -> bounced; Spam Reporting Address ->
                                 complained; Unsubscribed Address -> unsubscribed. Other reasons
                                 (Spam Content, Invalid SMTPAPI header) are about the message, not
                                 the address: counted and logged only.
    spamreport                   complained                yes                spamreport
    unsubscribe                  unsubscribed              yes                unsubscribe
    group_unsubscribe            unsubscribed              if no list named   group_unsubscribe

`unsubscribe` is SendGrid's global unsubscribe: SendGrid itself drops every later
message to the address from this account, so digest suppresses it everywhere too
rather than keep "sending" into drops. A `group_unsubscribe` leaves one group,
which for digest is one list. Other events (processed, deferred, open, click)
are ignored. A status only moves to a stronger one (complained > bounced >
unsubscribed, suppressed > active, paused, pending), so a late unsubscribe does
not hide a spam report.

Once, however often SendGrid delivers a batch: an event is skipped when its
`sg_event_id` was seen (an event without one is keyed by a hash of its JSON). Its
effects on subscriber and suppression list come first and are idempotent; then
one Redis script marks the id seen and counts it (store/events.py). A worker that
dies between the two leaves the id unseen, and the redelivered task redoes the
idempotent part and counts once. A block's "bounced" step comes after the count
it depends on; if a worker dies just there, the address's next block takes it.

An event naming an unknown list, issue or subscriber is counted (under "unmatched"
when the issue is not one of the list's) and otherwise ignored. After a batch,
each issue that got spam reports is checked against COMPLAINT_PAUSE_RATE
(`check_complaints`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, NamedTuple

import redis

from digest.config import Settings
from digest.deliver.ledger import Ledger
from digest.errors import InvalidInput, NotFound
from digest.models import SLUG
from digest.ops.metrics import record_webhook_events
from digest.store import Store, normalize_email

log = logging.getLogger(__name__)

# -- applying events (the worker) ---------------------------------------------

HANDLED = ("delivered", "bounce", "blocked", "dropped", "spamreport", "unsubscribe", "group_unsubscribe")
# How much a status says; a subscriber only moves to a stronger one.
STRENGTH = {"unsubscribed": 1, "suppressed": 1, "bounced": 2, "complained": 3}
# SendGrid's reasons for dropping a message that are about the address.
DROPPED = {"bounced address": "bounced", "invalid": "bounced",
           "spam reporting address": "complained", "unsubscribed address": "unsubscribed"}
_ISSUE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,150}")
_EVENT_ID = re.compile(r"[A-Za-z0-9_=+/.:-]{1,128}")


class Event(NamedTuple):
    id: str
    kind: str  # SendGrid's event name
    email: str  # normalised
    list_slug: str | None  # our custom args, when well-formed
    issue_id: str | None
    bounce_type: str
    reason: str


def parse_event(item: Any) -> Event:
    """One event of a batch, checked; InvalidInput names what is wrong."""
    if not isinstance(item, dict):
        raise InvalidInput("an event is not a JSON object")
    kind, email = item.get("event"), item.get("email")
    if not isinstance(kind, str) or not isinstance(email, str):
        raise InvalidInput("an event without a string 'event' and 'email'")
    event_id = item.get("sg_event_id")
    if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
        # Old or odd events carry no id; a repeat of the same batch repeats the same JSON.
        event_id = "h-" + hashlib.sha256(json.dumps(item, sort_keys=True).encode()).hexdigest()[:32]
    list_slug, issue_id = item.get("list"), item.get("issue")
    reason = item.get("reason") or item.get("response") or ""
    return Event(
        id=event_id,
        kind=kind[:40],
        email=normalize_email(email[:320]),
        list_slug=list_slug if isinstance(list_slug, str) and SLUG.fullmatch(list_slug) else None,
        issue_id=issue_id if isinstance(issue_id, str) and _ISSUE_ID.fullmatch(issue_id) else None,
        bounce_type=str(item.get("type") or ""),
        reason=" ".join("".join(c if c.isprintable() else " " for c in str(reason)[:300]).split()),
    )


def apply_events(store: Store, settings: Settings, body: str) -> dict[str, int]:
    """Apply one webhook batch; returns how many events were applied, duplicate, ignored, ...

    A body that is not a JSON array is logged and dropped; one bad event is skipped
    without stopping the others. Only Redis errors escape (the task is then redelivered).
    """
    try:
        items = json.loads(body)
    except ValueError as exc:
        log.warning("event webhook: a signed body that is not JSON, dropped: %s", exc)
        return {"malformed": 1}
    if not isinstance(items, list):
        log.warning("event webhook: a signed body that is not a JSON array, dropped")
        return {"malformed": 1}
    record_webhook_events(store, items)
    known = Known(store)
    summary: Counter[str] = Counter()
    complained: set[tuple[str, str]] = set()
    for item in items:
        try:
            event = parse_event(item)
            summary[apply_event(store, settings, known, event)] += 1
            list_slug = known.list_slug(event)
            if event.kind == "spamreport" and list_slug and (issue := known.issue_id(event, list_slug)):
                complained.add((list_slug, issue))  # checked even for a duplicate: the check is idempotent
        except InvalidInput as exc:
            log.warning("event webhook: event skipped: %s", exc)
            summary["invalid"] += 1
        except (redis.RedisError, OSError):
            raise
        except Exception:  # one event's surprise must not lose the rest of the batch
            log.exception("event webhook: event skipped: %.300r", item)
            summary["error"] += 1
    for list_slug, issue_id in sorted(complained):
        check_complaints(store, settings, list_slug, issue_id)
    return dict(summary)


class Known:
    """Which lists exist and which list each issue belongs to, looked up once per batch
    (a batch is thousands of events of a handful of issues)."""

    def __init__(self, store: Store) -> None:
        self.store, self.ledger = store, Ledger(store)
        self._lists: dict[str, bool] = {}
        self._issues: dict[str, str | None] = {}

    def list_slug(self, event: Event) -> str | None:
        slug = event.list_slug
        if slug is None:
            return None
        if slug not in self._lists:
            try:
                self.store.get_list(slug)
                self._lists[slug] = True
            except NotFound:
                self._lists[slug] = False
        return slug if self._lists[slug] else None

    def issue_id(self, event: Event, list_slug: str | None) -> str | None:
        """The event's issue when it is one of the list's."""
        issue = event.issue_id
        if list_slug is None or issue is None:
            return None
        if issue not in self._issues:
            self._issues[issue] = self.ledger.meta(issue).get("list")
        return issue if self._issues[issue] == list_slug else None


def apply_event(store: Store, settings: Settings, known: Known, event: Event) -> str:
    """Apply one event: applied, duplicate, ignored (not a kind digest acts on) or unmatched."""
    if event.kind not in HANDLED:
        return "ignored"
    list_slug = known.list_slug(event)
    issue_id = known.issue_id(event, list_slug)
    if store.event_seen(event.id, issue_id):  # its dedupe key sits with its issue's counters
        return "duplicate"
    counter, soft = event.kind, ""
    if event.kind == "delivered":
        soft = "reset"
    elif event.kind == "blocked" or (event.kind == "bounce" and event.bounce_type == "blocked"):
        counter, soft = "blocked", "incr"
    found = True
    if counter != "blocked":
        found = _effects(store, list_slug, event, counter)
    run = store.record_event(event.id, issue_id, counter, event.email, soft)
    if run < 0:
        return "duplicate"
    if counter == "blocked" and run >= settings.soft_bounce_limit:
        reason = f"blocked {run} times in a row: {event.reason}".rstrip(": ")
        found = _mark(store, list_slug, event.email, "bounced", reason)
    matched = not event.list_slug or (issue_id is not None and found)
    return "applied" if matched else "unmatched"


def _effects(store: Store, list_slug: str | None, event: Event, counter: str) -> bool:
    """The subscriber's and the suppression list's side of an event; False for an unknown subscriber."""
    reason = event.reason
    if counter == "bounce":
        return _mark(store, list_slug, event.email, "bounced", f"bounce: {reason}".rstrip(": "))
    if counter == "dropped":
        status = DROPPED.get(reason.lower())
        if status is None:
            log.warning("event webhook: SendGrid dropped a message to %s: %s (not the address's doing: "
                        "nothing suppressed)", event.email, reason or "no reason given")
            return True
        return _mark(store, list_slug, event.email, status, f"dropped by SendGrid: {reason}")
    if counter == "spamreport":
        return _mark(store, list_slug, event.email, "complained", "spam report")
    if counter == "unsubscribe":
        return _mark(store, list_slug, event.email, "unsubscribed", "unsubscribed through SendGrid (every list)")
    if counter == "group_unsubscribe":
        return _mark(store, list_slug, event.email, "unsubscribed",
                     None if event.list_slug else "group unsubscribe through SendGrid, no list named")
    return True


def _mark(store: Store, list_slug: str | None, email: str, status: str, suppress: str | None) -> bool:
    """Suppress (keeping the first reason) and move the list's subscriber to a stronger status."""
    if suppress and not store.suppressed([email])[0]:
        store.suppress(email, suppress)
    if list_slug is None:
        return True
    try:
        current = store.get_subscriber(list_slug, email).status
    except NotFound:
        return False
    if STRENGTH.get(status, 0) > STRENGTH.get(current, 0):
        store.set_status(list_slug, email, status)
    return True



# -- list health and the complaint pause ---------------------------------------------


@dataclass
class IssueHealth:
    issue_id: str
    handed_over: int  # the ledger's "accepted": recipients SendGrid took
    events: dict[str, int]

    def count(self, *kinds: str) -> int:
        return sum(self.events.get(k, 0) for k in kinds)

    @property
    def delivered(self) -> int:
        return self.count("delivered")

    @property
    def bounces(self) -> int:
        """Hard bounces and blocks: messages a mailbox provider refused."""
        return self.count("bounce", "blocked")

    @property
    def complaints(self) -> int:
        return self.count("spamreport")

    @property
    def unsubscribes(self) -> int:
        return self.count("unsubscribe", "group_unsubscribe")

    def rate(self, n: int) -> float | None:
        return n / self.handed_over if self.handed_over else None


def issue_health(store: Store, issue_id: str) -> IssueHealth:
    counts = Ledger(store).status(issue_id).counts
    return IssueHealth(issue_id, counts.get("accepted", 0), store.event_counts(issue_id))


def over_complaint_limit(settings: Settings, health: IssueHealth) -> bool:
    """Above COMPLAINT_PAUSE_RATE, with at least COMPLAINT_PAUSE_MIN reports.

    The minimum is for small lists: on a list of 200, one report is 0.5 %, and one
    reader's click should not stop everyone's digest; two readers reporting the
    same issue is a signal whatever the size. From 667 handed over up (at the
    defaults), the rate alone decides.
    """
    rate = health.rate(health.complaints)
    return rate is not None and health.complaints >= settings.complaint_pause_min \
        and rate > settings.complaint_pause_rate


def check_complaints(store: Store, settings: Settings, list_slug: str, issue_id: str) -> bool:
    """Pause the list's schedule, once per issue, when the issue's complaints pass the limit."""
    health = issue_health(store, issue_id)
    if not over_complaint_limit(settings, health) or not store.claim_complaint_pause(issue_id):
        return False
    rate = health.rate(health.complaints) or 0.0
    message = (f"issue {issue_id} had {health.complaints} spam reports for {health.handed_over} handed over "
               f"({rate:.2%}, above {settings.complaint_pause_rate:.2%}) on "
               f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; look at what that issue carried and "
               f"where its readers signed up, then resume with: digest lists schedule {list_slug} --resume")
    if store.pause_schedule(list_slug, message):
        log.error("list %s: schedule paused: %s", list_slug, message)
    else:
        log.error("list %s: %s (it has no running schedule to pause)", list_slug, message.split("; ")[0])
    return True
