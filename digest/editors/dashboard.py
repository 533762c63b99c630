"""What the editors' dashboard shows of a list: its next issue, its state, its
subscribers, and how its last issues went.

A list's state is the first that holds:

    waiting for approval   a slot's issue waits for an editor (dispatch.py)
    sending                an issue's batches are being handed over (or halted, waiting for the operator)
    collecting             new articles wait for the next issue (or no issue has gone out yet)
    sent                   the last issue went out and nothing new has come in since

The numbers are the ones `digest issues ls` and `digest lists health` print: the
ledger's counts per issue, and SendGrid's events for bounce and complaint rates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from digest.deliver.ledger import Ledger
from digest.dispatch import APPROVED, STARTING, WAITING, new_article_count
from digest.events import issue_health
from digest.models import STATUSES, DigestList
from digest.schedule import next_slot
from digest.store import Store

LAST_ISSUES = 5
WAITING_FOR_APPROVAL, SENDING, COLLECTING, SENT = "waiting for approval", "sending", "collecting", "sent"


@dataclass
class IssueSummary:
    issue_id: str
    created: datetime | None
    subject: str
    status: str  # the ledger's: sending, halted, done
    planned: int
    handed_over: int
    suppressed: int
    failed: int
    unconfirmed: int  # recipients in batches nobody knows were handed over (the operator resolves them)
    bounces: int
    complaints: int

    def rate(self, n: int) -> float | None:
        return n / self.handed_over if self.handed_over else None


@dataclass
class ListDashboard:
    lst: DigestList
    state: str
    state_detail: str  # e.g. the issue waiting, or how many new articles
    next_issue: datetime | None  # None: sent by hand, or the schedule is paused
    schedule: str  # "weekly on monday at 08:00", "sent by hand", "paused: ..."
    subscribers: dict[str, int]  # every status, 0 included, in models.STATUSES order
    issues: list[IssueSummary] = field(default_factory=list)  # newest first
    waiting_issue: str | None = None

    @property
    def handed_over(self) -> int:
        return sum(i.handed_over for i in self.issues)

    @property
    def bounce_rate(self) -> float | None:
        """Over the last issues shown: bounces per recipient handed over."""
        return sum(i.bounces for i in self.issues) / self.handed_over if self.handed_over else None

    @property
    def complaint_rate(self) -> float | None:
        return sum(i.complaints for i in self.issues) / self.handed_over if self.handed_over else None


def issue_summary(store: Store, ledger: Ledger, issue_id: str) -> IssueSummary:
    status = ledger.status(issue_id)
    counts, meta = status.counts, status.meta
    health = issue_health(store, issue_id)
    created = float(meta["created"]) if meta.get("created") else None
    return IssueSummary(
        issue_id=issue_id,
        created=datetime.fromtimestamp(created, timezone.utc) if created else None,
        subject=meta.get("subject", ""),
        status="paused" if meta.get("paused_by") else meta.get("status", "?"),  # an editor's pause, not a halt
        planned=counts.get("planned", 0),
        handed_over=counts.get("accepted", 0),
        suppressed=counts.get("suppressed", 0),
        failed=counts.get("failed", 0),
        unconfirmed=sum(int(p.get("recipients", 0)) for p in status.problems if p["state"] == "unconfirmed"),
        bounces=health.bounces,
        complaints=health.complaints,
    )


def list_dashboard(store: Store, lst: DigestList, now: datetime, last: int = LAST_ISSUES) -> ListDashboard:
    ledger = Ledger(store)
    issue_ids = ledger.issues(lst.slug)[-last:][::-1]
    issues = [issue_summary(store, ledger, i) for i in issue_ids]
    slots = store.slots(lst.slug)
    waiting = [r.get("issue", "") for r in slots.values() if r["state"] == WAITING]
    latest = list(slots.values())[-1] if slots else {}  # slot ids sort by time
    starting = latest.get("state") in (STARTING, APPROVED)
    if waiting:
        state, detail = WAITING_FOR_APPROVAL, waiting[-1]
    elif starting or (issues and issues[0].status in ("sending", "halted", "paused")):
        state = SENDING
        detail = f"{issues[0].issue_id}: {issues[0].status}" if issues and issues[0].status != "done" else ""
    else:
        new = new_article_count(store, lst, now)
        state = COLLECTING if new or not issues else SENT
        detail = f"{new} new article{'' if new == 1 else 's'}" if state == COLLECTING else "nothing new yet"
    schedule, nxt = "sent by hand", None
    if lst.schedule is not None:
        if lst.schedule.paused:
            schedule = f"paused: {lst.schedule.paused}"
        else:
            schedule = lst.schedule.describe()
            nxt = next_slot(lst.schedule, lst.timezone, now)
    counts = store.status_counts(lst.slug)
    return ListDashboard(
        lst=lst, state=state, state_detail=detail, next_issue=nxt, schedule=schedule,
        subscribers={s: counts.get(s, 0) for s in STATUSES}, issues=issues,
        waiting_issue=waiting[-1] if waiting else None,
    )


def dashboards(store: Store, lists: list[DigestList], now: datetime | None = None) -> list[ListDashboard]:
    now = now or datetime.now(timezone.utc)
    return [list_dashboard(store, lst, now) for lst in lists]
