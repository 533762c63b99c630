"""SIGTERM to a sender mid-send: it finishes the batch it is sending, hands back the rest,
and stops within a bound. A rolling restart of every sender ends with everyone mailed once."""

from __future__ import annotations

import time

import pytest

from digest.celery_app import make_celery
from digest.deliver.ledger import Ledger
from digest.deliver.send import prepare_issue
from digest.ops.queues import SENDER_QUEUES, send_messages
from tests.factories import readers, seed_week
from tests.sendgrid_server import Behaviour, SendGridStub
from tests.workers import Worker, wait_for, worker_env

pytestmark = pytest.mark.slow

SENDGRID_TIMEOUT = 5


def test_a_rolling_restart_of_every_sender_mid_send_mails_everyone_exactly_once(
        store, settings, topics, weekly, tmp_path):
    seed_week(store, ["climate", "space", "markets"])
    store.add_subscribers("weekly", readers(4000, [None, ["space"], ["climate", "markets"]]))
    settings = settings.model_copy(update={"batch_size": 20})  # 200 batches: still sending at the third restart
    plan = prepare_issue(store, settings, "weekly")
    ledger = Ledger(store)
    stopped_after: list[float] = []
    with SendGridStub(Behaviour(delay=0.4), validate=False) as stub:
        env = worker_env(settings, SENDGRID_API_KEY="SG.rolling", SENDGRID_API_HOST=stub.url,
                         SENDGRID_TIMEOUT=str(SENDGRID_TIMEOUT))
        senders = [Worker(env, tmp_path / f"s{i}.log", f"s{i}", queues=SENDER_QUEUES).start() for i in range(3)]
        old: list[Worker] = []
        try:
            app = make_celery(settings)
            for name, args in send_messages(plan.issue_id, plan.batches):  # as `send now` queues them
                app.send_task(name, args=args)
            wait_for(lambda: stub.arrived >= 6, 60, what="every sender to be sending")
            for i in range(3):  # as an orchestrator rolls a deployment: stop one, start its replacement
                victim = senders[i]
                assert ledger.batch_ids(plan.issue_id, ("pending", "retry")), "the send ended before the restart"
                victim.terminate()  # SIGTERM to the main process: a warm shutdown
                term = time.monotonic()
                senders[i] = Worker(env, tmp_path / f"s{i}-new.log", f"s{i}new", queues=SENDER_QUEUES).start()
                assert victim.proc is not None
                victim.proc.wait(SENDGRID_TIMEOUT + 25)
                stopped_after.append(time.monotonic() - term)
                old.append(victim)
            wait_for(lambda: ledger.status(plan.issue_id).finished, 90, interval=0.3, what="every batch to settle")
        finally:
            for w in senders + old:
                w.stop()
    for victim in old:
        shutdown = victim.log.read_text().split("Warm shutdown", 1)
        assert len(shutdown) == 2, victim.log.read_text()[-2000:]
        # it was mid-send when told to stop, and finished that task rather than dropping it
        assert "digest.send_batches" in shutdown[1] and "succeeded" in shutdown[1]
    assert max(stopped_after) < SENDGRID_TIMEOUT + 10  # the bound: SENDGRID_TIMEOUT plus a margin
    status = ledger.status(plan.issue_id)
    assert status.states == {"accepted": len(plan.batches)}  # nothing unconfirmed: no one was cut mid-request
    assert not stub.duplicates and len(stub.recipients) == 4000
    assert status.counts["accepted"] == 4000


def test_every_task_has_a_queue_and_time_limits_and_the_broker_outlasts_the_longest(settings):
    from digest import tasks
    from digest.ops.queues import ALL_QUEUES, ROUTES, check_broker, longest_hold, longest_send_stop, time_limits

    ours = {name for name in tasks.app.tasks if name.startswith("digest.")}
    assert ours == set(ROUTES) == set(time_limits(settings))
    for name in ours:
        task = tasks.app.tasks[name]
        assert tasks.app.amqp.router.route({}, name)["queue"].name == ROUTES[name] in ALL_QUEUES
        assert (task.soft_time_limit, task.time_limit) == time_limits(settings)[name]
        assert 0 < task.soft_time_limit < task.time_limit
    assert tasks.send_batch_task.time_limit == longest_send_stop(settings) == 150  # the README's bound
    assert longest_hold(settings) == 1230 < settings.visibility_timeout and check_broker(settings) == []
    slow_sendgrid = settings.model_copy(update={"sendgrid_timeout": 2000.0})
    assert "VISIBILITY_TIMEOUT (3600 s) is not longer than the longest" in check_broker(slow_sendgrid)[0]
    assert tasks.app.conf.task_acks_late and tasks.app.conf.worker_prefetch_multiplier == 1
    assert tasks.app.conf.beat_scheduler == "redbeat.RedBeatScheduler"
    assert all(entry["options"]["expires"] for entry in tasks.app.conf.beat_schedule.values())


def test_countdowns_are_capped_and_whole_seconds_on_quorum_queues(settings):
    from digest.ops.queues import MAX_COUNTDOWN, countdown

    # copied before anything reads settings.broker_url (a cached property, copied along once read)
    quorum = settings.model_copy(update={"celery_broker_url": "amqp://127.0.0.1:5672/x", "celery_queue_type": "quorum"})
    assert countdown(settings, 0.3) == 0.3 and countdown(settings, 10**6) == MAX_COUNTDOWN
    assert countdown(quorum, 0.3) == 1 and countdown(quorum, 2.1) == 3  # native delayed delivery drops < 1 s


def test_a_send_is_queued_eight_batches_to_a_task_and_a_lone_batch_as_itself():
    batches = [f"{i:06d}" for i in range(19)]
    messages = send_messages("weekly-1", batches)
    assert [name for name, _ in messages] == ["digest.send_batches"] * 3
    assert [args[1] for _, args in messages] == [batches[:8], batches[8:16], batches[16:]]
    assert all(args[0] == "weekly-1" for _, args in messages)
    assert send_messages("weekly-1", batches[:9])[-1] == ("digest.send_batch", ["weekly-1", "000008"])
    assert send_messages("weekly-1", []) == []
