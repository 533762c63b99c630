"""The editors' dashboard: each list's state, next issue, subscribers and last issues, from the real store."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from digest import audit, dispatch
from digest.deliver.ledger import Ledger
from digest.deliver.outbox import OutboxSender
from digest.deliver.send import prepare_issue, send_inline
from digest.editors.accounts import create_account
from digest.editors.dashboard import COLLECTING, SENDING, SENT, WAITING_FOR_APPROVAL, list_dashboard
from digest.models import Schedule
from digest.schedule import next_slot, slot_id
from digest.web import create_app
from tests.factories import article, file_as, readers, seed_week

NOW = datetime.now(timezone.utc).replace(second=0, microsecond=0)
PASSWORD = "a long admin password"


def board(store, now=None):  # type: ignore[no-untyped-def]
    return list_dashboard(store, store.get_list("weekly"), now or datetime.now(timezone.utc))


@pytest.fixture
def sent(store, settings, weekly, topics):  # type: ignore[no-untyped-def]
    """The weekly list with 6 readers and one issue sent to the outbox."""
    seed_week(store, ["climate", "space", "markets"])
    store.add_subscribers("weekly", readers(6, [None, ["space"]]))
    plan = prepare_issue(store, settings, "weekly")
    send_inline(store, settings, OutboxSender(settings.outbox_dir), plan.issue_id)
    return plan.issue_id


def test_a_new_list_is_collecting_and_sent_by_hand(store, weekly, topics):
    seed_week(store, ["space"], unmatched=1)
    b = board(store)
    assert (b.state, b.state_detail) == (COLLECTING, "4 new articles")
    assert b.next_issue is None and b.schedule == "sent by hand" and b.issues == []
    assert b.bounce_rate is None and b.complaint_rate is None


def test_after_an_issue_went_out_the_list_is_sent_until_something_new_comes(store, settings, sent):
    b = board(store)
    assert b.state == SENT
    [issue] = b.issues
    assert (issue.issue_id, issue.status, issue.planned, issue.handed_over) == (sent, "done", 6, 6)
    assert (issue.suppressed, issue.failed, issue.unconfirmed) == (0, 0, 0)
    fresh = article(99, "space", days_ago=0.1)
    store.save_article(fresh, 86400)
    file_as(store, [fresh], "space")
    assert (board(store).state, board(store).state_detail) == (COLLECTING, "1 new article")


def test_rates_and_counts_of_the_last_issues(store, settings, sent):
    for i, kind in enumerate(["bounce", "blocked", "spamreport", "delivered"]):
        store.record_event(f"ev{i}", sent, kind, f"reader{i}@example.com")
    store.unsubscribe("weekly", "reader0@example.com", "bounced")
    store.unsubscribe("weekly", "reader2@example.com", "complained")
    store.unsubscribe("weekly", "reader3@example.com")
    b = board(store)
    [issue] = b.issues
    assert (issue.bounces, issue.complaints) == (2, 1)
    assert b.bounce_rate == pytest.approx(2 / 6) and b.complaint_rate == pytest.approx(1 / 6)
    assert b.subscribers == {"pending": 0, "active": 3, "paused": 0, "unsubscribed": 1, "bounced": 1,
                             "complained": 1, "suppressed": 0}


def test_batches_nobody_can_vouch_for_are_counted_unconfirmed(store, settings, weekly, topics):
    seed_week(store, ["space"])
    store.add_subscribers("weekly", readers(5, [None]))
    plan = prepare_issue(store, settings, "weekly")
    ledger = Ledger(store)
    [batch] = plan.batches
    assert ledger.claim(plan.issue_id, batch, "T1") == "claimed"
    assert ledger.claim(plan.issue_id, batch, "T2") == "unconfirmed"  # its sender died mid-request
    b = board(store)
    assert b.issues[0].unconfirmed == 5 and b.issues[0].handed_over == 0
    ledger.halt(plan.issue_id, "401 from SendGrid")
    assert board(store).state == SENDING


def test_a_scheduled_issue_waiting_for_approval_and_the_next_slot(store, settings, weekly, topics):
    seed_week(store, ["space"])
    schedule = Schedule(cadence="daily", time=f"{NOW:%H:%M}", since=NOW - timedelta(hours=1), needs_approval=True)
    store.add_list(store.get_list("weekly").model_copy(update={"schedule": schedule}))
    dispatch.tick(store, settings, NOW, lambda lst, slot: dispatch.start_slot(store, settings, lst, slot, NOW))
    b = board(store, NOW + timedelta(minutes=1))
    issue = f"weekly-{slot_id(NOW)}"
    assert (b.state, b.state_detail, b.waiting_issue) == (WAITING_FOR_APPROVAL, issue, issue)
    assert b.next_issue == next_slot(schedule, "UTC", NOW + timedelta(minutes=1)) == NOW + timedelta(days=1)
    assert "needs approval" in b.schedule
    dispatch.approve(store, settings, issue, NOW + timedelta(minutes=2), by="ada@example.com")
    assert board(store).state == SENDING  # approved, handed to the workers, none sent yet
    [entry] = audit.entries(store, "weekly")
    assert (entry.account, entry.action, entry.detail) == ("ada@example.com", "approve", issue)
    paused = schedule.model_copy(update={"paused": "complaints"})
    store.add_list(store.get_list("weekly").model_copy(update={"schedule": paused}))
    assert board(store).next_issue is None and board(store).schedule == "paused: complaints"


# -- the pages ----------------------------------------------------------------------------


@pytest.fixture
def admin(settings, store):  # type: ignore[no-untyped-def]
    create_account(store, "ada@example.com", PASSWORD, role="admin")
    client = create_app(settings).test_client()
    assert client.post("/login", data={"email": "ada@example.com", "password": PASSWORD}).status_code == 303
    return client


def test_the_dashboard_shows_each_list_at_a_glance(admin, store, sent):
    page = admin.get("/lists").data.decode()
    assert "The Weekly Planet" in page and ">sent</span>" in page and "6 active" in page
    assert f"Last issue: {sent}, 6 handed over, 0 failed, 0 unconfirmed" in page
    assert 'name="viewport"' in page and "<script" not in page
    detail = admin.get("/lists/weekly").data.decode()
    assert re.search(r'data-label="Handed over" class="num">6 of 6<', detail)
    assert 'data-label="active" class="num">6<' in detail and 'href="/lists/weekly/audit"' in detail


def test_the_audit_page_shows_who_did_what_as_text(admin, store, weekly):
    audit.record(store, "weekly", "ed@example.com", "approve", "<script>alert(1)</script>")
    page = admin.get("/lists/weekly/audit").data.decode()
    assert "ed@example.com" in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    assert "sign-in" in admin.get("/audit").data.decode()  # the admin's own sign-in


def test_the_audit_log_is_capped(store, weekly, monkeypatch):
    import digest.store.audit

    monkeypatch.setattr(digest.store.audit, "AUDIT_MAX_ENTRIES", 100)
    for i in range(500):
        audit.record(store, "weekly", "ed@example.com", "probe", str(i))
    entries = audit.entries(store, "weekly", count=1000)
    assert [e.detail for e in entries[:2]] == ["499", "498"]  # newest first
    assert 100 <= len(entries) <= 200  # trimmed by whole nodes of 100 (approximate MAXLEN)
    audit.record(store, "weekly", "x" * 5000, "probe", "y" * 5000)
    assert len(audit.entries(store, "weekly", 1)[0].account) == audit.MAX_FIELD_CHARS
