"""Lists that send themselves: slots in local time, one issue per slot, approval, skips."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from digest import dispatch
from digest.deliver.ledger import Ledger
from digest.deliver.outbox import OutboxSender
from digest.deliver.send import prepare_issue, send_inline
from digest.errors import InvalidInput
from digest.models import Schedule
from digest.schedule import last_slot, next_slot, slot_id
from digest.store import Store
from digest.window import issued_keys
from tests.factories import article, file_as, readers, seed_week

UTC = timezone.utc


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- slots: local time, DST, month ends -------------------------------------------


def test_a_weekly_slot_stays_at_local_time_across_daylight_saving():
    monday_8 = Schedule(cadence="weekly", weekday="monday", time="08:00")
    # Madrid: 08:00 is 06:00 UTC in summer (CEST) and 07:00 UTC in winter (CET).
    assert last_slot(monday_8, "Europe/Madrid", at(2026, 10, 21)) == at(2026, 10, 19, 6)
    assert next_slot(monday_8, "Europe/Madrid", at(2026, 10, 21)) == at(2026, 10, 26, 7)  # clocks went back on the 25th


def test_a_local_time_skipped_in_spring_moves_forward_and_one_repeated_in_autumn_comes_once():
    nightly = Schedule(cadence="daily", time="02:30")
    # 2026-03-29 02:00 CET jumps to 03:00 CEST: 02:30 does not exist, the slot is 03:30 CEST.
    assert last_slot(nightly, "Europe/Madrid", at(2026, 3, 29, 12)) == at(2026, 3, 29, 1, 30)
    # 2026-11-01 in New York: 01:30 happens twice; the slot is the first (EDT), once.
    early = Schedule(cadence="daily", time="01:30")
    slots = {last_slot(early, "America/New_York", at(2026, 11, 1, h)) for h in range(6, 12)}
    assert slots == {at(2026, 11, 1, 5, 30)}


def test_monthly_on_the_31st_is_the_last_day_of_shorter_months():
    end = Schedule(cadence="monthly", day=31, time="09:00")
    assert next_slot(end, "UTC", at(2026, 2, 1)) == at(2026, 2, 28, 9)
    assert next_slot(end, "UTC", at(2026, 4, 1)) == at(2026, 4, 30, 9)
    assert next_slot(end, "UTC", at(2026, 5, 1)) == at(2026, 5, 31, 9)


def test_bad_schedules_are_refused_by_name():
    with pytest.raises(ValueError, match="weekday 'funday'"):
        Schedule(weekday="funday")
    with pytest.raises(ValueError, match="time '25:00'"):
        Schedule(time="25:00")
    from digest.models import DigestList

    with pytest.raises(ValueError, match="time zone 'Mars/Olympus'"):
        DigestList(slug="x", name="X", from_email="a@b.example", timezone="Mars/Olympus")


# -- the tick ---------------------------------------------------------------------

NOW = datetime.now(UTC).replace(second=0, microsecond=0)


def schedule_now(store: Store, **extra: object) -> None:
    """Give the weekly list a daily schedule whose slot is this very minute."""
    lst = store.get_list("weekly")
    schedule = Schedule(cadence="daily", time=f"{NOW:%H:%M}", since=NOW - timedelta(hours=1), **extra)
    store.add_list(lst.model_copy(update={"schedule": schedule}))


def inline(store, settings, now):  # type: ignore[no-untyped-def]
    """Start slots in this process, as the start_slot task does in a worker."""
    started: list[dispatch.Started] = []

    def start(list_slug: str, slot: str) -> None:
        result = dispatch.start_slot(store, settings, list_slug, slot, now)
        if result.state == dispatch.SENDING:
            send_inline(store, settings, OutboxSender(settings.outbox_dir), result.issue_id)
        started.append(result)
    return start, started


@pytest.fixture
def due(store, settings, weekly, topics):  # type: ignore[no-untyped-def]
    seed_week(store, ["climate", "space", "markets"])
    store.add_subscribers("weekly", readers(7, [None, ["space"]]))
    schedule_now(store)


def outbox(settings) -> list:  # type: ignore[no-untyped-def]
    return sorted(settings.outbox_dir.rglob("*.eml")) if settings.outbox_dir.exists() else []


def test_a_due_list_sends_once_and_not_again_at_the_next_tick(store, settings, due):
    start, started = inline(store, settings, NOW)
    assert dispatch.tick(store, settings, NOW + timedelta(seconds=5), start) == [f"weekly/{slot_id(NOW)}"]
    assert [s.state for s in started] == ["sending"]
    assert len(outbox(settings)) == 7
    for later in (10, 50, 300):
        assert dispatch.tick(store, settings, NOW + timedelta(seconds=later), start) == []
    assert len(outbox(settings)) == 7
    assert Ledger(store).issues("weekly") == [f"weekly-{slot_id(NOW)}"]


def test_two_ticks_racing_start_one_issue(store, settings, due):
    start, started = inline(store, settings, NOW)
    barrier = threading.Barrier(4)

    def beat() -> None:
        barrier.wait()
        dispatch.tick(store, settings, NOW + timedelta(seconds=1), start)

    threads = [threading.Thread(target=beat) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(started) == 1 and len(outbox(settings)) == 7


def test_a_slot_started_twice_makes_one_issue(store, settings, due):
    start, started = inline(store, settings, NOW)
    dispatch.tick(store, settings, NOW, start)
    again = dispatch.start_slot(store, settings, "weekly", slot_id(NOW), NOW)  # a retried task
    assert again.state == "sending" and again.issue_id == started[0].issue_id
    assert len(outbox(settings)) == 7


def test_send_now_racing_the_schedule_never_sends_an_article_twice(store, settings, due):
    results: list[object] = []

    def manual() -> None:
        try:
            results.append(prepare_issue(store, settings, "weekly"))
        except InvalidInput as exc:
            results.append(exc)

    start, started = inline(store, settings, NOW)
    t = threading.Thread(target=manual)
    t.start()
    dispatch.tick(store, settings, NOW, start)
    t.join()
    issues = Ledger(store).issues("weekly")
    assert len(issues) == 1, "one of the two found nothing new"
    assert sum(isinstance(r, InvalidInput) for r in results) + sum(s.state == "skipped" for s in started) == 1


def test_a_slot_with_nothing_new_is_skipped_with_a_record(store, settings, weekly, topics):
    store.add_subscribers("weekly", readers(3, [None]))
    schedule_now(store)
    start, started = inline(store, settings, NOW)
    dispatch.tick(store, settings, NOW, start)
    assert started[0].state == "skipped" and outbox(settings) == []
    record = store.slot("weekly", slot_id(NOW))
    assert record["state"] == "skipped" and record["reason"] == "nothing new since the list's last issue"


def test_consecutive_scheduled_issues_share_no_article(store, settings, due):
    start, started = inline(store, settings, NOW)
    dispatch.tick(store, settings, NOW, start)
    first = Ledger(store).issues("weekly")[0]
    fresh = [article(200 + n, "space", days_ago=0) for n in range(2)]
    for a in fresh:
        store.save_article(a, 86400)
    file_as(store, fresh, "space")
    tomorrow = NOW + timedelta(days=1)
    dispatch.tick(store, settings, tomorrow, inline(store, settings, tomorrow)[0])
    second = Ledger(store).issues("weekly")[1]
    by_issue: dict[str, set[str]] = {}
    for article_id, issue in store.r.hgetall(store.key("list", "weekly", "issued")).items():
        by_issue.setdefault(issue, set()).add(article_id)
    assert by_issue[second] == set(issued_keys(fresh))  # their ids, pages and texts
    assert not by_issue[first] & by_issue[second]


def test_a_schedule_set_after_its_slot_does_not_send_the_past(store, settings, weekly, topics):
    seed_week(store, ["space"])
    store.add_subscribers("weekly", readers(2, [None]))
    lst = store.get_list("weekly")
    store.add_list(lst.model_copy(update={"schedule": Schedule(cadence="daily", time=f"{NOW:%H:%M}",
                                                               since=NOW + timedelta(minutes=1))}))
    start, started = inline(store, settings, NOW)
    assert dispatch.tick(store, settings, NOW + timedelta(minutes=2), start) == []
    assert dispatch.tick(store, settings, NOW + timedelta(days=1), start) != []  # tomorrow's slot runs


def test_a_paused_schedule_does_not_run(store, settings, due):
    lst = store.get_list("weekly")
    store.add_list(lst.model_copy(update={"schedule": lst.schedule.model_copy(update={"paused": "complaints"})}))
    start, started = inline(store, settings, NOW)
    assert dispatch.tick(store, settings, NOW, start) == [] and outbox(settings) == []


# -- approval ---------------------------------------------------------------------


def test_an_issue_needing_approval_waits_and_is_sent_when_approved(store, settings, weekly, topics):
    seed_week(store, ["climate", "space", "markets"])
    store.add_subscribers("weekly", readers(4, [None]))
    schedule_now(store, needs_approval=True)
    start, started = inline(store, settings, NOW)
    dispatch.tick(store, settings, NOW, start)
    issue = f"weekly-{slot_id(NOW)}"
    assert started[0].state == "waiting" and outbox(settings) == []
    assert store.slot("weekly", slot_id(NOW))["articles"] == 11
    dispatch.tick(store, settings, NOW + timedelta(minutes=5), start)  # still waiting, nothing sent
    assert outbox(settings) == []
    dispatch.approve(store, settings, issue, NOW + timedelta(hours=2))
    send_inline(store, settings, OutboxSender(settings.outbox_dir), issue)
    assert len(outbox(settings)) == 4
    with pytest.raises(InvalidInput, match="not waiting for approval"):
        dispatch.approve(store, settings, issue, NOW + timedelta(hours=2))  # approving twice sends nothing


def test_an_issue_not_approved_in_time_is_skipped_with_a_record(store, settings, weekly, topics):
    seed_week(store, ["space"])
    store.add_subscribers("weekly", readers(2, [None]))
    schedule_now(store, needs_approval=True, approval_hours=6)
    start, _ = inline(store, settings, NOW)
    dispatch.tick(store, settings, NOW, start)
    dispatch.tick(store, settings, NOW + timedelta(hours=7), start)
    record = store.slot("weekly", slot_id(NOW))
    assert record["state"] == "skipped" and record["reason"] == "not approved within 6 h of its slot"
    with pytest.raises(InvalidInput, match="not waiting for approval"):
        dispatch.approve(store, settings, f"weekly-{slot_id(NOW)}", NOW + timedelta(hours=7))
    assert outbox(settings) == []


def test_approving_after_the_deadline_skips_instead(store, settings, weekly, topics):
    seed_week(store, ["space"])
    store.add_subscribers("weekly", readers(2, [None]))
    schedule_now(store, needs_approval=True, approval_hours=1)
    dispatch.tick(store, settings, NOW, inline(store, settings, NOW)[0])
    with pytest.raises(InvalidInput, match="not approved in time"):
        dispatch.approve(store, settings, f"weekly-{slot_id(NOW)}", NOW + timedelta(hours=2))
    assert store.slot("weekly", slot_id(NOW))["state"] == "skipped"


def test_a_reader_whose_pause_ended_gets_the_next_issue_and_one_still_paused_does_not(store, settings, due):
    from digest.pauses import pause

    pause(store, "weekly", "reader0@example.com", 1, now=NOW - timedelta(weeks=2))  # over by now
    pause(store, "weekly", "reader1@example.com", 2, now=NOW)
    assert store.get_subscriber("weekly", "reader0@example.com").status == "paused"
    plan = prepare_issue(store, settings, "weekly", NOW)
    assert plan.recipients == 6
    assert store.get_subscriber("weekly", "reader0@example.com").status == "active"
    assert store.get_subscriber("weekly", "reader1@example.com").status == "paused"


# -- the command line ---------------------------------------------------------------


def test_a_schedule_is_set_shown_and_refused_by_name_from_the_command_line(run, store, weekly):
    r = run("lists", "schedule", "weekly", "--weekly", "tue", "--at", "7:30", "--timezone", "Europe/Madrid",
            "--approval")
    assert r.returncode == 0, r.stderr
    assert "weekly: every Tuesday at 07:30, needs approval (Europe/Madrid); next Tue" in r.stdout
    lst = store.get_list("weekly")
    assert lst.timezone == "Europe/Madrid" and lst.schedule.needs_approval and lst.schedule.weekday == "tuesday"
    r = run("lists", "schedule", "weekly", "--monthly", "31", "--daily")
    assert r.returncode == 1 and "choose one of" in r.stderr
    r = run("lists", "schedule", "weekly", "--at", "7h")
    assert r.returncode == 1 and "time '7h' is not a 24-hour HH:MM time" in r.stderr
    r = run("lists", "schedule", "weekly", "--timezone", "Nowhere/Land")
    assert r.returncode == 1 and "Nowhere/Land" in r.stderr
    assert store.get_list("weekly").schedule.time == "07:30"  # a refused change changes nothing
    r = run("lists", "add", "weekly", "--name", "Renamed", "--from-email", "news@planet.example",
            "--timezone", "Europe/Madrid")
    assert r.returncode == 0 and store.get_list("weekly").schedule.weekday == "tuesday"  # kept on re-save
    r = run("lists", "schedule", "weekly", "--off")
    assert r.returncode == 0 and "no schedule" in r.stdout and store.get_list("weekly").schedule is None


def test_issues_ls_shows_sent_skipped_and_waiting_and_approve_sends(run, store, settings, weekly, topics):
    seed_week(store, ["space"])
    store.add_subscribers("weekly", readers(3, [None]))
    schedule_now(store, needs_approval=True)
    dispatch.tick(store, settings, NOW, inline(store, settings, NOW)[0])
    issue = f"weekly-{slot_id(NOW)}"
    r = run("issues", "ls", "weekly")
    assert r.returncode == 0, r.stderr
    assert "waiting" in r.stdout and f"digest issues approve {issue}" in r.stdout
    r = run("issues", "approve", issue, "--here")
    assert r.returncode == 0, r.stderr
    assert f"issue {issue} approved" in r.stdout and "3 handed over" in r.stdout
    assert len(outbox(settings)) == 3
    r = run("issues", "approve", issue, "--here")
    assert r.returncode == 1 and "is not waiting for approval (it is sending)" in r.stderr
    tomorrow = NOW + timedelta(days=1)
    dispatch.tick(store, settings, tomorrow, inline(store, settings, tomorrow)[0])  # nothing new: skipped
    r = run("issues", "ls", "weekly")
    lines = r.stdout.splitlines()
    assert len(lines) == 2
    assert issue in lines[0] and "3 handed over" in lines[0]
    assert "skipped" in lines[1] and "nothing new since the list's last issue" in lines[1]
    r = run("issues", "approve", "weekly-20200101T0000Z")
    assert r.returncode == 1 and "scheduled issue" in r.stderr
