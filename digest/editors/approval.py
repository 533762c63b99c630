"""What an editor may do with a list's next issue, and doing it, each step recorded.

    approve   a waiting issue: sent now; an upcoming slot: approved ahead (it will
              not wait) or sent now (its issue planned at once, the slot then has
              nothing left to do); a list sent by hand: sent now
    cancel    a waiting issue or an upcoming slot: skipped, with who and why; nothing
              of it was planned, so its articles stay for the next issue
    pause     a send under way: no batch not yet claimed goes out (deliver/ledger.py)
    resume    an editor's pause: the open batches are queued again, each sent once
    test      the next issue to a few typed addresses (deliver/proofs.py)

Approval is refused while preflight finds something blocking (digest.preflight).
Each action names the slot or issue the editor saw, so a page left open while the
slot moved on acts on nothing it did not show. The slot's state machine is in
digest/dispatch.py; here are the checks, the audit records and the hand-over to
the workers (a `Queue`: Celery in the web process, this process in tests and the demo).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, Protocol

from digest import audit, dispatch
from digest.config import Settings
from digest.deliver.base import Sender
from digest.deliver.ledger import Ledger
from digest.deliver.proofs import Proof, send_proof
from digest.errors import InvalidInput, NotFound
from digest.models import DigestList
from digest.preflight import Report, blocking, preflight_next_issue
from digest.schedule import next_slot, parse_slot_id, slot_id
from digest.store import Store

APPROVE_AHEAD, SEND_NOW, CANCEL, PAUSE, RESUME, TEST_SEND = (
    "approve ahead", "send now", "cancel", "pause", "resume", "test send")
RECENT_ISSUES = 5  # a send under way is one of the list's last few issues


class Queue(Protocol):
    """How planned work reaches whoever sends it."""

    def start_slot(self, list_slug: str, slot: str) -> None: ...
    def send_issue(self, list_slug: str) -> None: ...
    def send_batches(self, issue_id: str) -> None: ...


class InlineQueue:
    """Everything in this process, as `--here` does (tests, the demo)."""

    def __init__(self, store: Store, settings: Settings, sender: Sender) -> None:
        self.store, self.settings, self.sender = store, settings, sender

    def start_slot(self, list_slug: str, slot: str) -> None:
        started = dispatch.start_slot(self.store, self.settings, list_slug, slot, datetime.now(timezone.utc))
        if started.state == dispatch.SENDING and started.issue_id:
            self.send_batches(started.issue_id)

    def send_issue(self, list_slug: str) -> None:
        from digest.deliver.send import prepare_issue

        self.send_batches(prepare_issue(self.store, self.settings, list_slug).issue_id)

    def send_batches(self, issue_id: str) -> None:
        from digest.deliver.send import send_inline

        send_inline(self.store, self.settings, self.sender, issue_id)


@dataclass
class Approval:
    """Where a list's next issue stands, for the review page."""

    lst: DigestList
    waiting: str | None = None  # the slot whose issue waits for approval
    deadline: datetime | None = None  # ... skipped when not approved by then
    upcoming: datetime | None = None  # the next slot, when the list has a running schedule
    upcoming_record: dict[str, Any] | None = None  # decided ahead: approved, skipped
    sending: str | None = None  # an issue being handed over (can be paused)
    paused: str | None = None  # an issue an editor paused (can be resumed)
    halted: str | None = None  # an issue the sender halted (the operator resumes it)
    halt_reason: str = ""

    @property
    def needs_approval(self) -> bool:
        return bool(self.lst.schedule and self.lst.schedule.needs_approval)

    @property
    def target(self) -> str:
        """The slot an approval or a cancel acts on ("" for a list sent by hand)."""
        if self.waiting:
            return self.waiting
        return slot_id(self.upcoming) if self.upcoming else ""

    @property
    def upcoming_open(self) -> bool:
        """The upcoming slot is not decided yet."""
        return self.upcoming is not None and self.upcoming_record is None


def approval_state(store: Store, lst: DigestList, now: datetime) -> Approval:
    state = Approval(lst)
    slots = store.slots(lst.slug)
    waiting = [s for s, r in slots.items() if r["state"] == dispatch.WAITING]
    if waiting:
        state.waiting = waiting[-1]
        hours = lst.schedule.approval_hours if lst.schedule else 0
        state.deadline = parse_slot_id(state.waiting) + timedelta(hours=hours)
    if lst.schedule is not None and not lst.schedule.paused:
        state.upcoming = next_slot(lst.schedule, lst.timezone, now)
        state.upcoming_record = slots.get(slot_id(state.upcoming))
    ledger = Ledger(store)
    for issue_id in reversed(ledger.issues(lst.slug)[-RECENT_ISSUES:]):
        meta = ledger.meta(issue_id)
        if meta.get("paused_by"):
            state.paused = state.paused or issue_id
        elif meta.get("status") == "halted":
            state.halted, state.halt_reason = state.halted or issue_id, meta.get("halted", "")
        elif meta.get("status") == "sending":
            state.sending = state.sending or issue_id
    return state


def check_preflight(store: Store, settings: Settings, list_slug: str) -> Report:
    """Preflight of the next issue; InvalidInput naming what blocks, when something does."""
    report = preflight_next_issue(store, settings, list_slug)
    if blocking(report):
        raise InvalidInput("preflight blocks this issue: " + "; ".join(f.message for f in report.blocks[:3])
                           + (f" (and {len(report.blocks) - 3} more)" if len(report.blocks) > 3 else ""))
    return report


def _expect(state: Approval, slot: str) -> None:
    if not slot or slot != state.target:
        raise InvalidInput("the issue has moved on since this page was shown (another editor, or its slot "
                           "came): look at it again")


def approve(store: Store, settings: Settings, queue: Queue, list_slug: str, slot: str, by: str, now: datetime,
            when: Literal["slot", "now"] = "now") -> str:
    """Approve the issue of `slot` (what the editor saw; "" for a list sent by hand). Returns what happened."""
    lst = store.get_list(list_slug)
    state = approval_state(store, lst, now)
    if lst.schedule is None or (not state.waiting and lst.schedule.paused):
        if when != "now" or slot:
            raise InvalidInput("this list has no running schedule: its issue can only be sent now")
        check_preflight(store, settings, list_slug)
        queue.send_issue(list_slug)
        audit.record(store, list_slug, by, SEND_NOW, "the next issue, by hand")
        return "The issue is being sent now."
    _expect(state, slot)
    check_preflight(store, settings, list_slug)
    if state.waiting:
        issue_id = dispatch.slot_issue_id(list_slug, slot)
        dispatch.mark_approved(store, issue_id, now, by)  # records the approval
        queue.start_slot(list_slug, slot)
        return f"Approved: {issue_id} is being sent now."
    assert state.upcoming is not None
    if when == "slot" and not state.needs_approval:
        raise InvalidInput("this list needs no approval: its issue goes out at its slot anyway")
    decided = dispatch.AHEAD if when == "slot" else dispatch.APPROVED
    if not dispatch.decide_ahead(store, list_slug, state.upcoming, decided, by):
        raise InvalidInput("this slot was decided meanwhile: look at it again")
    issue_id = dispatch.slot_issue_id(list_slug, slot)
    if when == "slot":
        at = f"{state.upcoming:%Y-%m-%d %H:%M} UTC"
        audit.record(store, list_slug, by, APPROVE_AHEAD, f"{issue_id}, to go out at {at}")
        return f"Approved: {issue_id} goes out at its slot, {at}."
    audit.record(store, list_slug, by, SEND_NOW, f"{issue_id}, before its slot")
    queue.start_slot(list_slug, slot)
    return f"{issue_id} is being sent now."


def cancel(store: Store, list_slug: str, slot: str, by: str, now: datetime) -> str:
    """Skip the issue of `slot` (waiting, approved ahead, or not come yet), with a record."""
    lst = store.get_list(list_slug)
    state = approval_state(store, lst, now)
    _expect(state, slot)
    issue_id = dispatch.slot_issue_id(list_slug, slot)
    if state.waiting or (state.upcoming_record or {}).get("state") == dispatch.AHEAD:
        done = dispatch.cancel(store, list_slug, slot, by)
    elif state.upcoming is not None and state.upcoming_record is None:
        done = dispatch.decide_ahead(store, list_slug, state.upcoming, dispatch.SKIPPED, by, f"cancelled by {by}")
    else:
        done = False
    if not done:
        raise InvalidInput(f"{issue_id} cannot be cancelled: it has started, or was decided already")
    audit.record(store, list_slug, by, CANCEL, issue_id)
    return f"Cancelled: {issue_id} will not be sent; its articles wait for the next issue."


def _issue_of(store: Store, list_slug: str, issue_id: str) -> Ledger:
    ledger = Ledger(store)
    if ledger.meta(issue_id).get("list") != list_slug:  # another list's issue is none of this page's business
        raise NotFound("issue", issue_id)
    return ledger


def pause(store: Store, list_slug: str, issue_id: str, by: str) -> str:
    ledger = _issue_of(store, list_slug, issue_id)
    if not ledger.pause(issue_id, by):
        raise InvalidInput(f"{issue_id} is not being sent: there is nothing to pause")
    audit.record(store, list_slug, by, PAUSE, issue_id)
    return f"Paused: no more of {issue_id} goes out until it is resumed (batches in flight finish)."


def resume(store: Store, queue: Queue, list_slug: str, issue_id: str, by: str) -> str:
    ledger = _issue_of(store, list_slug, issue_id)
    if not ledger.resume(issue_id, paused_only=True):
        raise InvalidInput(f"{issue_id} is not paused by an editor (a halt by the sender is the operator's: "
                           f"digest send resume)")
    audit.record(store, list_slug, by, RESUME, issue_id)
    queue.send_batches(issue_id)
    return f"Resumed: the rest of {issue_id} is being sent."


def test_send(store: Store, settings: Settings, sender: Sender, list_slug: str, to: str,
              topics: set[str] | None, by: str) -> Proof:
    """A proof of the next issue (deliver/proofs.py), recorded in the list's audit log."""
    proof = send_proof(store, settings, sender, list_slug, to, topics)
    chosen = ", ".join(sorted(topics)) if topics else "every topic"
    audit.record(store, list_slug, by, TEST_SEND, f"{proof.proof_id} to {', '.join(proof.sent_to)} ({chosen})")
    return proof
