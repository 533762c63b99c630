"""Approval in the editors' app: editors told by email, approve (now or at the slot) only when
preflight lets it, cancel, pause and resume a send with every batch sent exactly once."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import SecretStr

from digest import audit, dispatch
from digest.deliver.ledger import Ledger
from digest.deliver.outbox import OutboxSender
from digest.deliver.send import prepare_issue, send_batch, send_inline
from digest.deliver.sendgrid import SendGridSender
from digest.editors.accounts import create_account
from digest.editors.approval import InlineQueue
from digest.models import DigestList, Schedule
from digest.schedule import next_slot, slot_id
from digest.web import create_app
from tests.factories import article, file_as, readers, seed_week
from tests.sendgrid_server import SendGridStub

ADA, ED, OTHER = "ada@example.com", "ed@example.com", "olga@example.com"
PASSWORD = "correct horse battery staple"
NOW = datetime.now(timezone.utc).replace(second=0, microsecond=0)


@pytest.fixture
def people(store, weekly, topics):  # type: ignore[no-untyped-def]
    store.add_list(DigestList(slug="semanal", name="El Planeta", from_email="n@planet.example", locale="es",
                              postal_address="Calle 1, Madrid"))
    create_account(store, ADA, PASSWORD, role="admin")
    create_account(store, ED, PASSWORD, role="editor", lists=["weekly"])
    create_account(store, OTHER, PASSWORD, role="editor", lists=["semanal"])
    seed_week(store, ["climate", "space"])
    store.add_subscribers("weekly", readers(4, [None]))


def schedule(store, at: datetime, **extra: object) -> None:  # type: ignore[no-untyped-def]
    lst = store.get_list("weekly")
    store.add_list(lst.model_copy(update={"schedule": Schedule(
        cadence="daily", time=f"{at:%H:%M}", since=NOW - timedelta(hours=1), **extra)}))


def client_of(settings, store, email: str = ED, sender=None):  # type: ignore[no-untyped-def]
    app = create_app(settings)
    app.testing = True
    app.extensions["digest_queue"] = InlineQueue(store, settings, sender or OutboxSender(settings.outbox_dir))
    client = app.test_client()
    assert client.post("/login", data={"email": email, "password": PASSWORD}).status_code == 303
    return client


def csrf_of(client) -> str:  # type: ignore[no-untyped-def]
    page = client.get("/lists/weekly/review").data.decode()
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def issue_mail(settings) -> list:  # type: ignore[no-untyped-def]
    """What readers got (tests and notices go to folders of their own)."""
    root = settings.outbox_dir
    return sorted(p for p in root.rglob("*.eml") if p.parent.name.startswith("weekly-")) if root.exists() else []


def tick(store, settings, now: datetime) -> list[dispatch.Started]:  # type: ignore[no-untyped-def]
    started: list[dispatch.Started] = []

    def start(list_slug: str, slot: str) -> None:
        result = dispatch.start_slot(store, settings, list_slug, slot, now)
        if result.state == dispatch.SENDING and result.issue_id:
            send_inline(store, settings, OutboxSender(settings.outbox_dir), result.issue_id)
        started.append(result)
    dispatch.tick(store, settings, now, start)
    return started


@pytest.fixture
def waiting(store, settings, people):  # type: ignore[no-untyped-def]
    """The weekly list's slot has come; its issue waits for approval."""
    schedule(store, NOW, needs_approval=True)
    [started] = tick(store, settings, NOW)
    assert started.state == dispatch.WAITING
    return slot_id(NOW)


def test_editors_are_told_by_email_with_a_link_to_the_review_page(store, settings, waiting):
    folder = settings.outbox_dir / f"approval-weekly-{waiting}"
    mails = {p.read_text() for p in folder.glob("*.eml")}
    assert len(mails) == 2  # the admin and weekly's editor, not semanal's
    text = " ".join(mails)
    assert f"To: {ADA}" in text and f"To: {ED}" in text and OTHER not in text
    assert "https://digest.example/lists/weekly/review" in text and "waits for your approval" in text
    assert [e.action for e in audit.entries(store, "weekly")] == ["approval requested"]
    assert issue_mail(settings) == []


def test_a_notice_that_cannot_go_out_costs_the_slot_nothing(store, settings, people):
    schedule(store, NOW, needs_approval=True)
    down = settings.model_copy(update={"sendgrid_api_key": SecretStr("SG.k"), "sendgrid_api_host": "http://127.0.0.1:9",
                                       "sendgrid_timeout": 2})
    [started] = tick(store, down, NOW)
    assert started.state == dispatch.WAITING and store.slot("weekly", slot_id(NOW))["state"] == "waiting"


def test_approval_is_refused_while_preflight_blocks_then_sends_once(store, settings, waiting):
    unsafe = article(50, "space", days_ago=0.2).model_copy(update={"url": "http://news.example/space/50"})
    store.save_article(unsafe, 86400)
    file_as(store, [unsafe], "space")
    ed = client_of(settings, store)
    page = ed.get("/lists/weekly/review").data.decode()
    assert "link-not-https" in page and re.search(r"<button type=\"submit\" disabled>Approve and send now", page)
    r = ed.post("/lists/weekly/approve", data={"csrf": csrf_of(ed), "slot": waiting, "when": "now"},
                follow_redirects=True)
    assert r.status_code == 409 and "preflight blocks this issue" in r.data.decode()
    assert store.slot("weekly", waiting)["state"] == "waiting" and issue_mail(settings) == []
    store.r.delete(store.key("article", unsafe.id))  # the unsafe article is gone (expired, or excluded)
    r = ed.post("/lists/weekly/approve", data={"csrf": csrf_of(ed), "slot": waiting, "when": "now"},
                follow_redirects=True)
    assert r.status_code == 200 and "Approved" in r.data.decode()
    assert store.slot("weekly", waiting)["state"] == "sending" and len(issue_mail(settings)) == 4
    entry = [e for e in audit.entries(store, "weekly") if e.action == "approve"]
    assert [(e.account, e.detail) for e in entry] == [(ED, f"weekly-{waiting}")]
    again = ed.post("/lists/weekly/approve", data={"csrf": csrf_of(ed), "slot": waiting, "when": "now"},
                    follow_redirects=True)
    assert again.status_code == 409 and len(issue_mail(settings)) == 4


def test_cancel_skips_the_waiting_issue_with_a_record_and_sends_nothing(store, settings, waiting):
    ed = client_of(settings, store)
    stale = ed.post("/lists/weekly/cancel", data={"csrf": csrf_of(ed), "slot": "20200101T0000Z"}, follow_redirects=True)
    assert stale.status_code == 409 and "moved on" in stale.data.decode()
    r = ed.post("/lists/weekly/cancel", data={"csrf": csrf_of(ed), "slot": waiting}, follow_redirects=True)
    assert r.status_code == 200 and "Cancelled" in r.data.decode()
    record = store.slot("weekly", waiting)
    assert record["state"] == "skipped" and record["reason"] == f"cancelled by {ED}"
    assert ("cancel", ED) in [(e.action, e.account) for e in audit.entries(store, "weekly")]
    assert ed.post("/lists/weekly/approve", data={"csrf": csrf_of(ed), "slot": waiting}).status_code == 409
    tick(store, settings, NOW + timedelta(minutes=5))
    assert issue_mail(settings) == [] and Ledger(store).issues("weekly") == []


def test_approved_ahead_an_issue_goes_out_at_its_slot_without_waiting(store, settings, people):
    schedule(store, NOW + timedelta(hours=2), needs_approval=True)
    upcoming = next_slot(store.get_list("weekly").schedule, "UTC", datetime.now(timezone.utc))
    ed = client_of(settings, store)
    page = ed.get("/lists/weekly/review").data.decode()
    assert "Approve for" in page
    r = ed.post("/lists/weekly/approve", data={"csrf": csrf_of(ed), "slot": slot_id(upcoming), "when": "slot"},
                follow_redirects=True)
    assert r.status_code == 200 and "goes out at its slot" in r.data.decode()
    assert store.slot("weekly", slot_id(upcoming))["state"] == "approved ahead" and issue_mail(settings) == []
    [started] = tick(store, settings, upcoming + timedelta(seconds=30))
    assert started.state == dispatch.SENDING and len(issue_mail(settings)) == 4
    assert not (settings.outbox_dir / f"approval-weekly-{slot_id(upcoming)}").exists()  # nobody asked
    assert tick(store, settings, upcoming + timedelta(minutes=1)) == []


def test_an_upcoming_slot_can_be_sent_now_or_cancelled_ahead(store, settings, people):
    schedule(store, NOW + timedelta(hours=2))
    upcoming = next_slot(store.get_list("weekly").schedule, "UTC", datetime.now(timezone.utc))
    ed = client_of(settings, store)
    assert ed.post("/lists/weekly/approve", data={"csrf": csrf_of(ed), "slot": slot_id(upcoming),
                                                  "when": "slot"}).status_code == 409  # needs no approval
    r = ed.post("/lists/weekly/approve", data={"csrf": csrf_of(ed), "slot": slot_id(upcoming), "when": "now"},
                follow_redirects=True)
    assert r.status_code == 200 and len(issue_mail(settings)) == 4
    assert tick(store, settings, upcoming + timedelta(seconds=30)) == []  # its slot has nothing left to do
    tomorrow = upcoming + timedelta(days=1)
    later = next_slot(store.get_list("weekly").schedule, "UTC", upcoming + timedelta(minutes=1))
    assert later == tomorrow
    fresh = article(60, "space", days_ago=0)
    store.save_article(fresh, 86400)
    file_as(store, [fresh], "space")
    from digest.editors.approval import cancel

    cancel(store, "weekly", slot_id(tomorrow), ED, upcoming + timedelta(minutes=1))
    assert store.slot("weekly", slot_id(tomorrow))["reason"] == f"cancelled by {ED}"
    assert tick(store, settings, tomorrow + timedelta(seconds=30)) == [] and len(issue_mail(settings)) == 4


def test_a_list_sent_by_hand_is_sent_now(store, settings, people):
    ed = client_of(settings, store)
    assert "Send now" in ed.get("/lists/weekly/review").data.decode()
    r = ed.post("/lists/weekly/approve", data={"csrf": csrf_of(ed), "slot": "", "when": "now"}, follow_redirects=True)
    assert r.status_code == 200 and len(issue_mail(settings)) == 4
    assert ("send now", ED) in [(e.action, e.account) for e in audit.entries(store, "weekly")]


# -- pause and resume ---------------------------------------------------------------------


def test_a_paused_send_sends_no_unclaimed_batch_and_after_resume_each_exactly_once(store, settings, people):
    settings = settings.model_copy(update={"batch_size": 1})  # 4 readers, 4 batches
    with SendGridStub() as stub:
        sender = SendGridSender("SG.test-key", host=stub.url, timeout=5)
        plan = prepare_issue(store, settings, "weekly")
        first, *rest = plan.batches
        assert send_batch(store, settings, sender, plan.issue_id, first) == "accepted"
        ledger = Ledger(store)
        assert ledger.claim(plan.issue_id, rest[0], "in-flight") == "claimed"  # a batch in flight at the pause
        ed = client_of(settings, store, sender=sender)
        page = ed.get("/lists/weekly/review").data.decode()
        assert f"Pause sending {plan.issue_id}" in page
        r = ed.post("/lists/weekly/pause", data={"csrf": csrf_of(ed), "issue": plan.issue_id}, follow_redirects=True)
        assert r.status_code == 200 and "Paused" in r.data.decode()
        assert ledger.finish(plan.issue_id, rest[0], "in-flight", "accepted", {}, accepted=1)  # it still lands
        for batch in rest[1:]:
            assert send_batch(store, settings, sender, plan.issue_id, batch) == "halted"
        assert send_inline(store, settings, sender, plan.issue_id) == {"halted": 2}  # claims refused
        assert len(stub.requests) == 1 and ledger.meta(plan.issue_id)["status"] == "halted"
        assert f"Resume sending {plan.issue_id}" in ed.get("/lists/weekly/review").data.decode()
        assert ed.post("/lists/weekly/pause", data={"csrf": csrf_of(ed), "issue": plan.issue_id}).status_code == 409
        r = ed.post("/lists/weekly/resume", data={"csrf": csrf_of(ed), "issue": plan.issue_id}, follow_redirects=True)
        assert r.status_code == 200 and "Resumed" in r.data.decode()
        for batch in plan.batches:  # tasks queued before the pause arrive late: the claims decide
            assert send_batch(store, settings, sender, plan.issue_id, batch) == "accepted"
        assert len(stub.requests) == 3 and stub.duplicates == []  # 1 before, 2 after; the in-flight one by hand
        assert ledger.status(plan.issue_id).states == {"accepted": 4}
        assert ed.post("/lists/weekly/resume", data={"csrf": csrf_of(ed), "issue": plan.issue_id}).status_code == 409
    actions = [(e.action, e.account) for e in audit.entries(store, "weekly")]
    assert ("pause", ED) in actions and ("resume", ED) in actions


def test_the_editors_resume_lifts_only_a_pause_not_a_halt_by_the_sender(store, settings, people):
    plan = prepare_issue(store, settings, "weekly")
    ledger = Ledger(store)
    ledger.halt(plan.issue_id, "401 from SendGrid")
    ed = client_of(settings, store)
    page = ed.get("/lists/weekly/review").data.decode()
    assert "halted by the sender" in page and "Resume sending" not in page
    r = ed.post("/lists/weekly/resume", data={"csrf": csrf_of(ed), "issue": plan.issue_id}, follow_redirects=True)
    assert r.status_code == 409 and ledger.meta(plan.issue_id)["status"] == "halted" and issue_mail(settings) == []


def test_another_lists_issue_cannot_be_paused_from_this_lists_page(store, settings, people):
    seed_week(store, ["space"], list_slug="semanal")
    store.add_subscribers("semanal", readers(2, [None]))
    theirs = prepare_issue(store, settings, "semanal")
    ed = client_of(settings, store)
    r = ed.post("/lists/weekly/pause", data={"csrf": csrf_of(ed), "issue": theirs.issue_id}, follow_redirects=True)
    assert r.status_code == 404 and Ledger(store).meta(theirs.issue_id)["status"] == "sending"


def test_the_command_line_pauses_and_resumes(run, store, settings, people):
    plan = prepare_issue(store, settings, "weekly")
    r = run("send", "pause", plan.issue_id)
    assert r.returncode == 0, r.stderr
    assert Ledger(store).meta(plan.issue_id)["paused_by"] == "command line"
    assert run("send", "pause", plan.issue_id).returncode != 0  # not sending
    r = run("send", "resume", plan.issue_id, "--here")
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(issue_mail(settings)) == 4
