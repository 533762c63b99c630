"""Beat can be doubled and restarted: real `celery beat` processes against one Redis,
counting the runs they actually put on the broker (no worker takes them)."""

from __future__ import annotations

import json
import time

import pytest

from digest.ops.queues import BUILD, COLLECT
from tests.workers import Beat, wait_for, worker_env

pytestmark = pytest.mark.slow

LOCKED = "beat: Acquired lock"
SENT = "Sending due task schedule-tick"


def queued(store, settings, queue: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Task names waiting on a queue of the Redis broker (under the installation's prefix)."""
    raw = store.r.lrange(f"{settings.redis_prefix}:celery:{queue}", 0, -1)
    return [json.loads(m)["headers"]["task"] for m in raw]


def ticks(store, settings) -> int:  # type: ignore[no-untyped-def]
    return queued(store, settings, BUILD).count("digest.tick")


def test_two_beats_schedule_each_tick_once_and_the_second_takes_over_when_the_first_dies(
        store, settings, tmp_path):
    env = worker_env(settings, SCHEDULE_TICK_SECONDS="1")  # beat wakes every second; a dead lock lasts 6 s
    beats = [Beat(env, tmp_path / f"beat{n}.log").start() for n in range(2)]
    try:
        holder = wait_for(lambda: next((b for b in beats if LOCKED in b.text()), None), 30, what="a beat to lock")
        started = time.monotonic()
        other = beats[1 - beats.index(holder)]
        wait_for(lambda: ticks(store, settings) >= 6, 30, what="six ticks")
        time.sleep(1.5)
        running = time.monotonic() - started
        assert SENT not in other.text() and "beat: Starting" in other.text()  # up, waiting for the lock
        assert 6 <= ticks(store, settings) <= running + 1  # one a second, not two
        before = ticks(store, settings)

        holder.kill()  # SIGKILL: its lock stays until it expires
        killed = time.monotonic()
        wait_for(lambda: LOCKED in other.text(), 20, what="the second beat to take the lock")
        assert time.monotonic() - killed < 6 + 3  # the lock's timeout, plus a try a second
        wait_for(lambda: SENT in other.text(), 5, what="the second beat's first tick")
        time.sleep(2)
        after = ticks(store, settings)
        assert after - before <= time.monotonic() - killed + 1
    finally:
        for b in beats:
            b.kill()
    assert queued(store, settings, COLLECT) == []  # the collection cron (*/30) was not due: not run at start


def test_a_stopped_beat_hands_over_at_once_and_a_restarted_one_keeps_the_schedule(store, settings, tmp_path):
    env = worker_env(settings, SCHEDULE_TICK_SECONDS="3")  # beat wakes (and a waiting one tries) every 3 s
    first = Beat(env, tmp_path / "first.log").start()
    second = Beat(env, tmp_path / "second.log").start()
    again = Beat(env, tmp_path / "again.log")
    try:
        wait_for(lambda: LOCKED in first.text() or LOCKED in second.text(), 30, what="a beat to lock")
        holder, waiting = (first, second) if LOCKED in first.text() else (second, first)
        wait_for(lambda: ticks(store, settings) >= 1, 10, what="a tick")
        assert holder.stop() == 0 and "beat: Releasing lock" in holder.text()  # SIGTERM frees the lock ...
        stopped = time.monotonic()
        wait_for(lambda: LOCKED in waiting.text(), 10, interval=0.05, what="the other beat to take over")
        assert time.monotonic() - stopped < 3 + 1  # ... so the other takes it at its next try
        assert waiting.stop() == 0
        done = ticks(store, settings)
        time.sleep(4)  # nobody scheduling, across a due tick

        again.start()
        wait_for(lambda: LOCKED in again.text(), 30, what="the restarted beat to lock")
        locked = time.monotonic()
        wait_for(lambda: ticks(store, settings) > done, 5, interval=0.05, what="the overdue tick")
        # The last run's time lives in Redis: the overdue tick goes at once (a beat that forgot
        # it would wait a whole interval), and once, not once per interval missed.
        assert time.monotonic() - locked < 2
        time.sleep(max(0.0, locked + 2.2 - time.monotonic()))
        assert ticks(store, settings) == done + 1
        wait_for(lambda: ticks(store, settings) == done + 2, 5, what="the next tick, an interval later")
    finally:
        for b in (first, second, again):
            b.kill()
    assert queued(store, settings, COLLECT) == []
