"""The operator's side of a send: a dead sender's batch shows within a minute, every
state and count is true, every failure exits non-zero, and each batch can be traced."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from digest.deliver.ledger import Ledger
from digest.deliver.send import prepare_issue, send_inline, settle_sends
from digest.deliver.sendgrid import SendGridSender
from tests.factories import readers, seed_week
from tests.sendgrid_server import Behaviour, SendGridStub
from tests.workers import Worker, wait_for, worker_env


@pytest.fixture
def week(store, weekly, topics):  # type: ignore[no-untyped-def]
    return seed_week(store, ["climate", "space", "markets"])


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from digest.cli import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=120)


def test_a_claim_whose_lease_runs_out_is_unconfirmed_with_its_size_and_counts_once_marked_sent(
        store, settings, week):
    store.add_subscribers("weekly", readers(7, [None]))
    plan = prepare_issue(store, settings, "weekly")
    ledger = Ledger(store)
    batch = plan.batches[0]
    assert ledger.claim(plan.issue_id, batch, "dead-sender", lease=1) == "claimed"
    assert ledger.status(plan.issue_id).states == {"submitting": 1}  # its lease still holds
    time.sleep(1.2)
    assert settle_sends(store) == {plan.issue_id: [batch]}
    status = ledger.status(plan.issue_id)
    assert status.states == {"unconfirmed": 1}
    assert status.problems[0]["recipients"] == 7  # what it held, though its sender never reported
    assert ledger.resolve(plan.issue_id, batch, resend=False) == "marked sent"
    assert ledger.status(plan.issue_id).counts["accepted"] == 7
    assert ledger.finish(plan.issue_id, batch, "dead-sender", "accepted", {}) is False  # settled stays settled


def test_every_send_command_exits_non_zero_when_something_needs_the_operator(store, settings, week):
    env = worker_env(settings)
    store.add_subscribers("weekly", readers(3, [None]))
    with SendGridStub(Behaviour(script=[400])) as stub:
        env_sg = {**env, "SENDGRID_API_KEY": "SG.x", "SENDGRID_API_HOST": stub.url}
        r = cli(env_sg, "send", "now", "weekly", "--here")
    assert r.returncode == 1 and "failed" in r.stdout and "needs attention" in r.stderr
    issue = Ledger(store).issues("weekly")[0]
    batch = Ledger(store).batch_ids(issue)[0]
    assert cli(env, "send", "status", issue).returncode == 1
    r = cli(env, "send", "resolve", issue, "999999", "--mark-sent")
    assert r.returncode == 1 and "has no batch '999999'" in r.stderr
    r = cli(env, "send", "resolve", "weekly-nothing-1", batch, "--mark-sent")
    assert r.returncode == 1 and "unknown issue" in r.stderr
    r = cli(env, "send", "batch", issue, batch)
    assert r.returncode == 0 and sorted(r.stdout.splitlines()[1:]) == [f"reader{i}@example.com" for i in range(3)]
    assert cli(env, "send", "resolve", issue, batch, "--resend").returncode == 0
    r = cli(env, "send", "resolve", issue, batch, "--resend")
    assert r.returncode == 1 and "is not unconfirmed or failed" in r.stderr
    with SendGridStub() as stub:
        r = cli({**env, "SENDGRID_API_KEY": "SG.x", "SENDGRID_API_HOST": stub.url}, "send", "resume", issue, "--here")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 handed over" in r.stdout and cli(env, "send", "status", issue).returncode == 0
    assert Ledger(store).meta(issue)["status"] == "done"


def test_the_batch_id_travels_to_sendgrid(store, settings, week):
    store.add_subscribers("weekly", readers(4, [None]))
    plan = prepare_issue(store, settings, "weekly")
    with SendGridStub() as stub:
        send_inline(store, settings, SendGridSender("SG.x", host=stub.url, timeout=5), plan.issue_id)
    assert [b["custom_args"]["batch"] for b in stub.requests] == plan.batches


@pytest.mark.slow
def test_a_worker_killed_mid_request_shows_within_a_minute_and_settles_exactly_once(
        store, settings, week, tmp_path):
    store.add_subscribers("weekly", readers(5, [None]))
    with SendGridStub(Behaviour(delay=6)) as stub:
        env = worker_env(settings, SENDGRID_API_KEY="SG.x", SENDGRID_API_HOST=stub.url, SENDGRID_TIMEOUT="10",
                         VISIBILITY_TIMEOUT="3600")  # the broker would take an hour to notice
        worker = Worker(env, tmp_path / "worker.log", "doomed").start()
        try:
            r = cli(env, "send", "now", "weekly", "--no-wait")
            assert r.returncode == 0, r.stderr
            wait_for(lambda: stub.arrived, 60, what="the batch's request to reach SendGrid")
        finally:
            worker.kill()  # SIGKILL to the worker's process group, mid-request
        killed = time.monotonic()
        issue = Ledger(store).issues("weekly")[0]

        def shows() -> subprocess.CompletedProcess[str] | None:
            r = cli(env, "send", "status", issue)
            return r if "unconfirmed" in r.stdout else None

        r = wait_for(shows, 60, interval=1, what="the dead sender's batch to show as unconfirmed")
        assert time.monotonic() - killed < 60
        assert r.returncode == 1 and "5 recipients" in r.stdout and "digest send batch" in r.stdout
        time.sleep(stub.behaviour.delay)  # the request the dead worker made has landed at SendGrid
    assert sum(stub.recipients.values()) == 5  # SendGrid did get it: the operator marks it sent
    batch = Ledger(store).batch_ids(issue)[0]
    assert cli(env, "send", "resolve", issue, batch, "--mark-sent").returncode == 0
    r = cli(env, "send", "status", issue)
    assert r.returncode == 0 and "5 handed over" in r.stdout
    assert not stub.duplicates
