"""Lists that send themselves: the beat's tick, a slot's issue, approval and skips.

Every tick (digest.tasks.tick, run by Celery beat each SCHEDULE_TICK_SECONDS)
looks at each scheduled list: if its latest slot has come and nobody has started
it, the tick creates the slot's record (once: store/schedules.py) and starts it.
Starting a slot makes at most one issue, named by the slot:

- nothing new since the list's last issue: the slot is skipped, with a record;
- the list needs approval: the slot waits for `digest issues approve`, and is
  skipped (with a record) when nobody approves it within `approval_hours`;
- otherwise the issue is planned (deliver/send.py prepare_issue) and its batches sent.

Only the latest slot is run: after days without a beat, a list gets one issue,
not one per missed slot. Every step is safe to repeat (a retried task, two beats,
`send now` at the same moment): the slot's record and the list's issuing lock
decide, and an article goes out in at most one issue of a list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from digest import audit
from digest.config import Settings
from digest.deliver.ledger import Ledger
from digest.deliver.send import Plan, prepare_issue
from digest.errors import InvalidInput, NotFound
from digest.issue import window_articles
from digest.models import DigestList
from digest.schedule import last_slot, parse_slot_id, slot_id
from digest.store import Store

log = logging.getLogger(__name__)

# States of a slot's record (store/schedules.py).
STARTING, WAITING, APPROVED = "starting", "waiting", "approved"
SENDING, SKIPPED, FAILED = "sending", "skipped", "failed"


def slot_issue_id(list_slug: str, slot: str) -> str:
    return f"{list_slug}-{slot}"


def split_issue_id(issue_id: str, store: Store) -> tuple[str, str]:
    """(list, slot) of a scheduled issue's id, e.g. weekly-20261130T0700Z."""
    list_slug, _, slot = issue_id.rpartition("-")
    if not list_slug or store.slot(list_slug, slot) is None:
        raise NotFound("scheduled issue", issue_id)
    return list_slug, slot


@dataclass
class Started:
    list_slug: str
    slot: str
    state: str
    issue_id: str | None = None
    reason: str = ""


def new_article_count(store: Store, digest_list: DigestList, now: datetime) -> int:
    ids = [a.id for a in window_articles(store, digest_list, now)]
    return len(ids) - len(store.issued(digest_list.slug, ids))


def tick(store: Store, settings: Settings, now: datetime, start: Callable[[str, str], None]) -> list[str]:
    """One beat tick: start every due slot (via `start`: a task, or inline) and skip
    waiting slots whose approval time ran out. Returns the slots it started."""
    started = []
    for digest_list in store.lists():
        schedule = digest_list.schedule
        if schedule is None:
            continue
        skip_overdue(store, digest_list, now)
        if schedule.paused:
            continue
        slot = last_slot(schedule, digest_list.timezone, now)
        if slot < schedule.since.replace(second=0, microsecond=0):
            continue  # the schedule was set after this slot
        name = slot_id(slot)
        if store.claim_slot(digest_list.slug, name, {"state": STARTING, "slot": slot.isoformat()}):
            log.info("list %s: slot %s is due", digest_list.slug, name)
            start(digest_list.slug, name)
            started.append(f"{digest_list.slug}/{name}")
    return started


def start_slot(store: Store, settings: Settings, list_slug: str, slot: str, now: datetime) -> Started:
    """Make the slot's issue, or its skip or wait record. Safe to call again for the same slot."""
    digest_list = store.get_list(list_slug)
    record = store.slot(list_slug, slot)
    if record is None:
        raise NotFound("time slot", f"{list_slug}/{slot}")
    issue_id = slot_issue_id(list_slug, slot)
    if record["state"] != STARTING:  # done already (a retried task): report, change nothing
        return Started(list_slug, slot, record["state"], record.get("issue"), record.get("reason", ""))
    if Ledger(store).meta(issue_id):  # planned before a crash cut the record's update short
        store.move_slot(list_slug, slot, (STARTING,), state=SENDING, issue=issue_id)
        return Started(list_slug, slot, SENDING, issue_id)
    count = new_article_count(store, digest_list, now)
    if count == 0:
        reason = "nothing new since the list's last issue"
        store.move_slot(list_slug, slot, (STARTING,), state=SKIPPED, reason=reason)
        log.info("list %s: slot %s skipped: %s", list_slug, slot, reason)
        return Started(list_slug, slot, SKIPPED, reason=reason)
    if digest_list.schedule and digest_list.schedule.needs_approval:
        store.move_slot(list_slug, slot, (STARTING,), state=WAITING, issue=issue_id, articles=count)
        log.info("list %s: issue %s waits for approval (%d new articles)", list_slug, issue_id, count)
        return Started(list_slug, slot, WAITING, issue_id)
    return _plan(store, settings, list_slug, slot, issue_id, now, (STARTING,))


def _plan(
    store: Store, settings: Settings, list_slug: str, slot: str, issue_id: str, now: datetime,
    from_states: tuple[str, ...],
) -> Started:
    try:
        plan = prepare_issue(store, settings, list_slug, now, issue_id=issue_id)
    except InvalidInput as exc:  # everything new went out meanwhile (a `send now`)
        store.move_slot(list_slug, slot, from_states, state=SKIPPED, reason=str(exc))
        return Started(list_slug, slot, SKIPPED, reason=str(exc))
    except Exception as exc:
        store.move_slot(list_slug, slot, from_states, state=FAILED, reason=f"could not plan the issue: {exc}")
        raise
    store.move_slot(list_slug, slot, from_states, state=SENDING, issue=issue_id,
                    recipients=plan.recipients, articles=len(plan.content.articles))
    return Started(list_slug, slot, SENDING, issue_id)


def approve(store: Store, settings: Settings, issue_id: str, now: datetime, by: str = "command line") -> Plan | Started:
    """An editor (`by`, for the list's audit log) approves a waiting issue: plan it now (it
    carries what is new now).

    Refused when it is not waiting (sent, skipped, approved already) or its time ran out.
    """
    list_slug, slot = split_issue_id(issue_id, store)
    record = store.slot(list_slug, slot) or {}
    if record["state"] != WAITING:
        raise InvalidInput(f"issue {issue_id} is not waiting for approval (it is {record['state']}"
                           f"{': ' + record['reason'] if record.get('reason') else ''})")
    digest_list = store.get_list(list_slug)
    if _overdue(digest_list, slot, now):
        skip_overdue(store, digest_list, now)
        raise InvalidInput(f"issue {issue_id} was not approved in time: its slot passed more than "
                           f"{digest_list.schedule.approval_hours:g} h ago, so it is skipped" if digest_list.schedule
                           else f"issue {issue_id}: the list has no schedule any more")
    if not store.move_slot(list_slug, slot, (WAITING,), state=APPROVED):
        raise InvalidInput(f"issue {issue_id} was approved or skipped meanwhile")
    audit.record(store, list_slug, by, audit.APPROVE, issue_id)
    return _plan(store, settings, list_slug, slot, issue_id, now, (APPROVED,))


def _overdue(digest_list: DigestList, slot: str, now: datetime) -> bool:
    hours = digest_list.schedule.approval_hours if digest_list.schedule else 0
    return now - parse_slot_id(slot) > timedelta(hours=hours)


def skip_overdue(store: Store, digest_list: DigestList, now: datetime) -> list[str]:
    """Skip, with a record, every waiting issue of the list whose approval time ran out."""
    skipped = []
    for slot, record in store.slots(digest_list.slug).items():
        if record["state"] == WAITING and _overdue(digest_list, slot, now):
            hours = digest_list.schedule.approval_hours if digest_list.schedule else 0
            reason = f"not approved within {hours:g} h of its slot"
            if store.move_slot(digest_list.slug, slot, (WAITING,), state=SKIPPED, reason=reason):
                log.warning("list %s: issue %s skipped: %s", digest_list.slug, record.get("issue"), reason)
                skipped.append(slot)
    return skipped
