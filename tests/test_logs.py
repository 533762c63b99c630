"""Log lines: JSON when asked, the task's ids on each, no address or secret in full."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from celery import Celery
from pydantic import SecretStr

from digest.celery_app import make_celery
from digest.config import Settings
from digest.ops.logs import JsonFormatter, Redactor, TextFormatter, log_context, make_formatter
from digest.ops.observe import task_ids
from tests.workers import Worker, wait_for, worker_env

SG_KEY = "SG.abcdefghijklmnop.qrstuvwxyz0123456789"


def line(formatter: logging.Formatter, message: str, *args: object, exc: bool = False) -> str:
    record = logging.LogRecord("digest.test", logging.WARNING, __file__, 1, message, args, None)
    if exc:
        try:
            raise RuntimeError(f"while mailing bob@example.org with {SG_KEY}")
        except RuntimeError:
            import sys

            record.exc_info = sys.exc_info()
    return formatter.format(record)


def test_json_lines_carry_the_ids_of_the_work_under_way(settings: Settings):
    formatter = make_formatter(settings.model_copy(update={"log_format": "json"}))
    with log_context(list="weekly", issue="weekly-20261123-1"), log_context(batch="000042", feed=None):
        out = json.loads(line(formatter, "batch %s handed over", "000042"))
    assert out["message"] == "batch 000042 handed over" and out["level"] == "WARNING"
    assert (out["list"], out["issue"], out["batch"]) == ("weekly", "weekly-20261123-1", "000042")
    assert "feed" not in out and out["time"].endswith("Z")
    assert "list" not in json.loads(line(formatter, "outside"))  # the context ends with its block


def test_addresses_and_secrets_never_leave_in_full(settings: Settings):
    secret = settings.require_secret_key()
    mine = settings.model_copy(update={
        "editor_credential": SecretStr("editor:correct-horse-battery"),
        "redis_url": "redis://:s3cret-pass@redis.internal:6379/0",
    })
    for formatter in (JsonFormatter(Redactor.from_settings(mine)), TextFormatter(Redactor.from_settings(mine))):
        out = line(formatter, "to %s, key %s, signing %s, pw %s, url %s, %s", "ann.lee@example.com", SG_KEY,
                   secret, "correct-horse-battery", "amqp://guest:guest-pass@mq:5672//",
                   "Authorization: Bearer abcdefghijklmnopqrstuvwxyz", exc=True)
        for leaked in ("ann.lee@", "bob@", SG_KEY, secret, "correct-horse-battery", "s3cret-pass", "guest-pass",
                       "abcdefghijklmnopqrstuvwxyz"):
            assert leaked not in out, (leaked, out)
        assert "a***@example.com" in out and "b***@example.org" in out  # the domain stays: it tells bounces apart
        assert "RuntimeError" in out  # the traceback is there, redacted


def test_a_tasks_ids_come_from_its_arguments():
    app = Celery("t", set_as_current=False)

    @app.task(name="t.send_batch", bind=True)
    def send_batch(self, issue_id: str, batch_id: str) -> None: ...

    @app.task(name="t.start_slot")
    def start_slot(list_slug: str, slot: str) -> None: ...

    assert task_ids(send_batch, ["weekly-1"], {"batch_id": "000007"}) == {
        "task": "t.send_batch", "issue": "weekly-1", "batch": "000007"}
    assert task_ids(start_slot, ["weekly\n{evil}", "2026"], {}) == {"task": "t.start_slot", "list": "weekly__evil_"}
    assert task_ids(start_slot, ["a", "b", "c"], {}) == {"task": "t.start_slot"}  # a call that does not bind


@pytest.mark.slow
def test_a_worker_logs_json_with_the_tasks_ids_and_masks_addresses(settings: Settings, store, tmp_path: Path):
    log = tmp_path / "worker.log"
    worker = Worker(worker_env(settings, LOG_FORMAT="json"), log, "logs").start()
    try:
        wait_for(lambda: store.worker_heartbeats(__import__("time").time()), 60, 0.3, "the worker to start")
        body = json.dumps([{"event": "dropped", "email": "carol.smith@example.com", "reason": "Spam Content",
                            "sg_event_id": "e1", "list": "weekly", "issue": "weekly-1"}])
        make_celery(settings).send_task("digest.apply_events", args=[body], queue="celery")
        wait_for(lambda: "dropped a message" in log.read_text(), 60, 0.3, "the event to be applied")
        worker.stop()
    finally:
        worker.stop()
    text = log.read_text()
    assert "carol.smith@" not in text and settings.require_secret_key() not in text
    lines = [json.loads(raw) for raw in text.splitlines() if raw.startswith("{")]
    dropped = [entry for entry in lines if "dropped a message" in entry["message"]]
    assert dropped and dropped[0]["task"] == "digest.apply_events" and dropped[0]["task_id"]
    assert "c***@example.com" in dropped[0]["message"]
    assert any(entry["logger"].startswith("celery") for entry in lines)  # Celery's own lines too
