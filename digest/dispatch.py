"""Lists that send themselves: the beat's tick, a slot's issue, approval and skips.

Every tick (digest.tasks.tick, run by Celery beat each SCHEDULE_TICK_SECONDS)
looks at each scheduled list: if its latest slot has come and nobody has started
it, the tick creates the slot's record (once: store/schedules.py) and starts it.
Starting a slot makes at most one issue, named by the slot:

- nothing new since the list's last issue: the slot is skipped, with a record;
- the list needs approval: the slot waits for `digest issues approve` (or Approve
  in the editors' app), its editors are told by email (`notify_editors`), and it is
  skipped (with a record) when nobody approves it within `approval_hours`;
- otherwise the issue is planned (deliver/send.py prepare_issue) and its batches sent.

An editor may also decide a slot before it comes (digest/editors/approval.py): approve it
ahead (its record is made early as `approved ahead`; the tick moves it to
`starting`, and it does not wait), send it now (`approved` early: planned at once,
the slot then has nothing left to do), or cancel it (`skipped`, with who and why).

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
from html import escape

from digest import audit
from digest.config import Settings
from digest.deliver import make_sender
from digest.deliver.base import Envelope, Recipient
from digest.deliver.ledger import Ledger
from digest.deliver.send import Plan, prepare_issue
from digest.errors import InvalidInput, NotFound
from digest.models import DigestList
from digest.schedule import last_slot, parse_slot_id, slot_id
from digest.store import Store
from digest.window import sent_before, window_articles

log = logging.getLogger(__name__)

# States of a slot's record (store/schedules.py).
STARTING, WAITING, APPROVED = "starting", "waiting", "approved"
SENDING, SKIPPED, FAILED = "sending", "skipped", "failed"
AHEAD = "approved ahead"  # approved before its slot came: it will not wait


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
    articles = window_articles(store, digest_list, now)
    return len(articles) - len(sent_before(store, digest_list.slug, articles))


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
        # A slot approved ahead has its record already: it is started by moving it on, once.
        if store.claim_slot(digest_list.slug, name, {"state": STARTING, "slot": slot.isoformat()}) or \
                store.move_slot(digest_list.slug, name, (AHEAD,), state=STARTING):
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
    state = record["state"]
    if state not in (STARTING, APPROVED):  # done already (a retried task): report, change nothing
        return Started(list_slug, slot, state, record.get("issue"), record.get("reason", ""))
    if Ledger(store).meta(issue_id):  # planned before a crash cut the record's update short
        store.move_slot(list_slug, slot, (state,), state=SENDING, issue=issue_id)
        return Started(list_slug, slot, SENDING, issue_id)
    if state == APPROVED:  # approved in the editors' app, which queued this task to plan it
        return _plan(store, settings, list_slug, slot, issue_id, now, (APPROVED,))
    count = new_article_count(store, digest_list, now)
    if count == 0:
        reason = "nothing new since the list's last issue"
        store.move_slot(list_slug, slot, (STARTING,), state=SKIPPED, reason=reason)
        log.info("list %s: slot %s skipped: %s", list_slug, slot, reason)
        return Started(list_slug, slot, SKIPPED, reason=reason)
    if digest_list.schedule and digest_list.schedule.needs_approval and not record.get("approved_by"):
        if store.move_slot(list_slug, slot, (STARTING,), state=WAITING, issue=issue_id, articles=count):
            log.info("list %s: issue %s waits for approval (%d new articles)", list_slug, issue_id, count)
            notify_editors(store, settings, digest_list, slot, issue_id, count)
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
    list_slug, slot = mark_approved(store, issue_id, now, by)
    return _plan(store, settings, list_slug, slot, issue_id, now, (APPROVED,))


def mark_approved(store: Store, issue_id: str, now: datetime, by: str) -> tuple[str, str]:
    """Move a waiting issue to approved, with a record: whoever planned it next (approve
    above, or the start_slot task the editors' app queues) sends it. Returns (list, slot)."""
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
    return list_slug, slot


def decide_ahead(store: Store, list_slug: str, slot: datetime, state: str, by: str, reason: str = "") -> bool:
    """Record an editor's decision on a slot that has not come yet: AHEAD (it will not wait),
    APPROVED (planned now, by the caller's start_slot) or SKIPPED. False when the slot has a
    record already (it came, or was decided): the caller says so."""
    record = {"state": state, "slot": slot.isoformat(), "approved_by": by} if state != SKIPPED else \
        {"state": state, "slot": slot.isoformat(), "reason": reason}
    return store.claim_slot(list_slug, slot_id(slot), record)


def cancel(store: Store, list_slug: str, slot: str, by: str) -> bool:
    """Skip, with a record, a slot that waits for approval or was approved ahead: nothing of
    it was planned, so nothing was sent. False when it is in another state (started, sent)."""
    return store.move_slot(list_slug, slot, (WAITING, AHEAD), state=SKIPPED, reason=f"cancelled by {by}")


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


def notify_editors(store: Store, settings: Settings, digest_list: DigestList, slot: str, issue_id: str,
                   articles: int) -> int:
    """Tell the list's editors and the admins that an issue waits for them, with a link to its
    review page. Runs in the start_slot task (not the tick), right after the slot waits; a
    mail that cannot go out is logged and costs the slot nothing. Returns how many were told."""
    to = [a.email for a in store.accounts() if not a.disabled and a.can_manage(digest_list.slug)]
    if not to:
        return 0
    link = f"{settings.base_url}/lists/{digest_list.slug}/review"
    hours = digest_list.schedule.approval_hours if digest_list.schedule else 0
    deadline = parse_slot_id(slot) + timedelta(hours=hours)
    plural = "" if articles == 1 else "s"
    ready = f"The issue {issue_id} of {digest_list.name} is ready: {articles} new article{plural}."
    until = f"Not approved by {deadline:%Y-%m-%d %H:%M} UTC, it is skipped."
    text = f"{ready}\n\nReview it, then approve or cancel it:\n{link}\n\n{until}\n"
    html = (f'<p>{escape(ready)}</p><p><a href="{escape(link)}">Review it, then approve or cancel it</a></p>'
            f"<p>{escape(until)}</p>")
    try:
        make_sender(settings).send(Envelope(
            subject=f"{digest_list.name}: an issue waits for your approval",
            html=f'<!DOCTYPE html><html lang="en"><body>{html}</body></html>', text=text,
            from_email=digest_list.from_email, from_name=f"{digest_list.name} (digest)",
            recipients=[Recipient(email=e) for e in to],
            custom_args={"list": digest_list.slug, "issue": f"approval-{issue_id}"}, categories=["digest-editors"],
        ))
    except Exception:  # the slot still waits; the dashboard and `digest issues ls` show it
        log.exception("list %s: could not tell the editors that %s waits for approval", digest_list.slug, issue_id)
        return 0
    audit.record(store, digest_list.slug, "digest", "approval requested", f"{issue_id}: told {len(to)}")
    return len(to)
