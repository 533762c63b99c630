"""End to end on real parts: the CLI, a real Redis, real Celery worker processes,
feeds from loopback and the real sendgrid client against a loopback SendGrid."""

from __future__ import annotations

import random
import subprocess
import sys
import time

import pytest

from digest.celery_app import make_celery
from digest.deliver.ledger import Ledger
from digest.deliver.send import prepare_issue
from digest.demo import SAMPLES, serve_samples
from digest.ops.queues import SENDER_QUEUES, WORKER_QUEUES, send_messages
from tests.factories import readers, seed_week
from tests.sendgrid_server import Behaviour, SendGridStub
from tests.workers import Worker, wait_for, worker_env

pytestmark = pytest.mark.slow

CHOICES = [None, ["space"], ["climate", "markets"], ["markets"], ["space", "more"], ["climate"]]


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from digest.cli import main; main()", *args],
                          env=env, input=stdin, capture_output=True, text=True, timeout=120)


@pytest.fixture
def stub():
    with SendGridStub() as s:
        yield s


def test_feeds_to_inboxes_through_the_command_line_and_a_worker(store, settings, stub, tmp_path):
    feeds_to_inboxes(store, settings, stub, tmp_path)


def feeds_to_inboxes(store, settings, stub, tmp_path):  # type: ignore[no-untyped-def]
    """Feeds in, a list and its readers set up, collected and sent through the Procfile's
    `worker` and `sender` processes; also run with RabbitMQ as the broker (test_rabbitmq.py)."""
    env = worker_env(settings, SENDGRID_API_KEY="SG.e2e", SENDGRID_API_HOST=stub.url)
    with serve_samples() as base:
        for feed_id, file_name in [("planet-wire", "planet-wire.xml"), ("orbital-times", "orbital-times.atom"),
                                   ("market-brief", "market-brief.json")]:
            assert cli(env, "feeds", "add", feed_id, f"{base}/{file_name}").returncode == 0
        r = cli(env, "lists", "add", "weekly", "--name", "The Weekly Planet", "--from-email", "news@planet.example",
                "--description", "you signed up at planet.example", "--opt-in", "single",
                "--postal-address", "Planet Media, 1 Orbit Road, Springfield")
        assert r.returncode == 0, r.stderr
        r = cli(env, "topics", "import", str(SAMPLES / "topics" / "weekly.toml"), "--list", "weekly")
        assert r.returncode == 0, r.stderr
        csv_file = tmp_path / "readers.csv"
        csv_file.write_text("email,name,topics\nalice@example.com,Alice,\nbob@example.com,Bob,space;climate\n"
                            "not-an-address,Mallory,\ncarol@example.com,Carol,cooking\ndan@example.com,Dan,markets\n")
        r = cli(env, "subscribers", "import", "weekly", str(csv_file))
        assert r.returncode == 2
        assert "weekly: 3 new, 0 updated, 0 unchanged, 2 refused, 0 suppressed" in r.stdout
        assert "line 4" in r.stderr and "not-an-address" in r.stderr
        assert "line 5" in r.stderr and "cooking" in r.stderr

        # the Procfile's process types: `worker` collects and plans, `sender` sends
        worker = Worker(env, tmp_path / "worker.log", "e2e", queues=WORKER_QUEUES).start()
        sender = Worker(env, tmp_path / "sender.log", "e2e-sender", queues=SENDER_QUEUES).start()
        try:
            make_celery(settings).send_task("digest.collect_all")
            wait_for(lambda: all(store.feed_state(f.id).last_ok_at for f in store.feeds()), 60,
                     what="the worker to collect every feed")
            assert store.r.zcard(store.key("articles")) > 10
            preview = tmp_path / "next.html"
            r = cli(env, "preview", "weekly", "-o", str(preview))
            assert r.returncode == 0, r.stderr
            r = cli(env, "send", "now", "weekly")
            assert r.returncode == 0, r.stderr + (tmp_path / "sender.log").read_text()[-3000:]
        finally:
            worker.stop()
            sender.stop()
    assert "3 handed over" in r.stdout
    assert sorted(stub.recipients) == ["alice@example.com", "bob@example.com", "dan@example.com"]
    assert not stub.duplicates and stub.invalid == []
    sent_to_alice = next(b for b in stub.requests
                         if b["personalizations"][0]["to"][0]["email"] == "alice@example.com")
    # what the editor previewed is what went out (but for the per-reader links)
    first_title = sent_to_alice["subject"]
    assert sent_to_alice["content"][1]["value"].count("<table") == preview.read_text().count("<table")
    assert first_title


def send_through_workers(store, settings, tmp_path, stub, n_workers=2, chaos=None):  # type: ignore[no-untyped-def]
    """Plan the issue here, queue its batches, and let real workers send them (through
    settings.celery_broker_url when set, else the store's Redis)."""
    env = worker_env(settings, SENDGRID_API_KEY="SG.scale", SENDGRID_API_HOST=stub.url)
    plan = prepare_issue(store, settings, "weekly")
    app = make_celery(settings)
    workers = [Worker(env, tmp_path / f"w{i}.log", f"w{i}").start() for i in range(n_workers)]
    ledger = Ledger(store)
    try:
        for name, args in send_messages(plan.issue_id, plan.batches):  # as `send now` queues them
            app.send_task(name, args=args, queue="send")
        if chaos:
            chaos(workers)
        wait_for(lambda: ledger.status(plan.issue_id).finished, 120, interval=0.3, what="every batch to settle")
    finally:
        for w in workers:
            w.stop()
    return plan, ledger


def test_twenty_thousand_readers_with_mixed_choices_get_it_exactly_once(
    store, settings, topics, weekly, stub, tmp_path,
):
    seed_week(store, ["climate", "space", "markets"])
    store.add_subscribers("weekly", readers(20_000, CHOICES))
    plan, ledger = send_through_workers(store, settings, tmp_path, stub)
    assert stub.invalid == []
    assert len(stub.recipients) == 20_000 and not stub.duplicates
    assert ledger.status(plan.issue_id).counts["accepted"] == 20_000
    assert len(stub.requests) == len(plan.batches)


def test_rate_limits_and_errors_through_workers_still_end_exactly_once(store, settings, topics, weekly, tmp_path):
    seed_week(store, ["climate", "space", "markets"])
    store.add_subscribers("weekly", readers(3000, CHOICES))
    settings = settings.model_copy(update={"batch_size": 100})
    with SendGridStub(Behaviour(rate_429=0.3, rate_500=0.1, reset_in=0.05), validate=False) as stub:
        send_through_workers(store, settings, tmp_path, stub)
    assert stub.statuses[429] > 5 and stub.statuses[500] > 1
    assert len(stub.recipients) == 3000 and not stub.duplicates


def test_workers_killed_mid_send_lose_no_one_and_mail_no_one_twice(store, settings, topics, weekly, tmp_path):
    workers_killed_mid_send(store, settings.model_copy(update={"visibility_timeout": 5}), tmp_path)


def workers_killed_mid_send(store, settings, tmp_path):  # type: ignore[no-untyped-def]
    """SIGKILL of workers mid-send, four times; the operator resolves what it left unconfirmed.
    The Redis broker hands a dead worker's tasks back after the visibility timeout, RabbitMQ at once."""
    seed_week(store, ["climate", "space", "markets"])
    store.add_subscribers("weekly", readers(4000, CHOICES))
    settings = settings.model_copy(update={"batch_size": 40})
    rng = random.Random(2026)
    kills_mid_send = []

    def chaos(workers: list[Worker]) -> None:
        issue = Ledger(store).issues("weekly")[-1]
        for _ in range(4):
            time.sleep(rng.uniform(0.3, 1.2))
            victim = rng.choice(workers)
            victim.kill()
            kills_mid_send.append(bool(Ledger(store).batch_ids(issue, ("pending", "submitting", "retry"))))
            victim.start()

    with SendGridStub(Behaviour(delay=0.03), validate=False) as stub:
        plan, ledger = send_through_workers(store, settings, tmp_path, stub, chaos=chaos)
        # the operator resolves what the crashes left unconfirmed, checking SendGrid's side
        unconfirmed = [p["batch"] for p in ledger.status(plan.issue_id).problems if p["state"] == "unconfirmed"]
        for batch in unconfirmed:
            members = ledger.members(plan.issue_id, batch)
            got_it = all(stub.recipients[m] for m in members)
            assert got_it or not any(stub.recipients[m] for m in members)  # a batch is all or nothing
            ledger.resolve(plan.issue_id, batch, resend=not got_it)
        if any(ledger.batch_ids(plan.issue_id, ("retry",))):
            _resend = make_celery(settings)
            env = worker_env(settings, SENDGRID_API_KEY="SG.scale", SENDGRID_API_HOST=stub.url)
            w = Worker(env, tmp_path / "resolve.log", "resolve").start()
            try:
                for batch in ledger.batch_ids(plan.issue_id, ("retry",)):
                    _resend.send_task("digest.send_batch", args=[plan.issue_id, batch], queue="send")
                wait_for(lambda: ledger.status(plan.issue_id).finished, 60, what="resent batches")
            finally:
                w.stop()
    assert kills_mid_send.count(True) >= 2  # the kills landed while batches were open
    assert not stub.duplicates
    assert len(stub.recipients) == 4000
