"""A list due now, sent by real beat and worker processes: once, and not again."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from digest.deliver.ledger import Ledger
from digest.models import Schedule
from digest.schedule import slot_id
from tests.factories import readers, seed_week
from tests.workers import Worker, wait_for, worker_env

pytestmark = pytest.mark.slow


def beat(env: dict[str, str], tmp_path, name: str) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
    log = (tmp_path / f"{name}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "digest.celery_app", "beat", "--loglevel", "INFO",
         "--schedule", str(tmp_path / f"{name}-schedule")],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def test_two_running_beats_send_a_due_list_once_and_not_again(store, settings, weekly, topics, tmp_path):
    seed_week(store, ["climate", "space", "markets"])
    store.add_subscribers("weekly", readers(5, [None, ["space"]]))
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    store.add_list(weekly.model_copy(update={"schedule": Schedule(
        cadence="daily", time=f"{now:%H:%M}", since=now - timedelta(hours=1))}))
    env = worker_env(settings, SCHEDULE_TICK_SECONDS="1")
    worker = Worker(env, tmp_path / "worker.log", "sched").start()
    beats = [beat(env, tmp_path, f"beat{n}") for n in range(2)]
    try:
        emails = lambda: sorted(settings.outbox_dir.rglob("*.eml")) if settings.outbox_dir.exists() else []  # noqa: E731
        wait_for(lambda: len(emails()) >= 5, 60, interval=0.5, what="the scheduled issue in the outbox")
        # One of the two beats holds the schedule's lock at a time: count the ticks of both.
        ticks = lambda: sum((tmp_path / f"beat{n}.log").read_text().count("digest.tick") for n in range(2))  # noqa: E731
        ticks_before = ticks()
        wait_for(lambda: ticks() >= ticks_before + 4, 30, what="four more ticks")
        time.sleep(2)  # what those ticks started has had time to run
    finally:
        for b in beats:
            b.terminate()
            b.wait(10)
        worker.stop()
    assert len(emails()) == 5
    issue = f"weekly-{slot_id(now)}"
    assert Ledger(store).issues("weekly") == [issue]
    record = store.slot("weekly", slot_id(now))
    assert record["state"] == "sending" and record["issue"] == issue and record["recipients"] == 5
