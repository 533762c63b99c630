"""/healthz and /readyz on real parts: a Redis we stop and start, real Celery workers, beat's tick."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from digest.celery_app import make_celery
from digest.config import Settings
from digest.ops.health import WORKER_FRESH_SECONDS, beat_fresh_seconds, readiness
from digest.redis_server import LocalRedis
from digest.store import Store
from digest.web import create_app
from tests.workers import Worker, wait_for, worker_env


def _ready(client, checks: str = "") -> tuple[int, dict]:
    response = client.get("/readyz" + (f"?checks={checks}" if checks else ""))
    return response.status_code, response.get_json()


def test_readyz_turns_unready_when_redis_stops_and_ready_when_it_returns(settings: Settings, tmp_path: Path):
    own = LocalRedis(tmp_path / "redis").start()
    try:
        mine = settings.model_copy(update={"redis_url": own.url})
        client = create_app(mine).test_client()
        assert client.get("/healthz").status_code == 200
        assert _ready(client, "redis,broker") == (200, {"status": "ready", "failed": [], "checks": {
            "redis": {"ok": True}, "broker": {"ok": True}}})

        own.stop()
        started = time.monotonic()
        status, report = _ready(client, "redis,broker")
        assert time.monotonic() - started < 10  # a probe answers; it does not hang on a dead Redis
        assert status == 503 and report["failed"] == ["redis", "broker"]
        assert client.get("/healthz").status_code == 503
        text = client.get("/readyz?checks=redis,broker").get_data(as_text=True)
        assert "127.0.0.1" not in text and str(own.port) not in text  # no host or port to whoever asks

        LocalRedis(own.data_dir, port=own.port).start()
        assert _ready(client, "redis,broker")[0] == 200
        assert client.get("/healthz").status_code == 200
    finally:
        own.stop()
        LocalRedis(own.data_dir, port=own.port).stop()


def test_readyz_refuses_unknown_checks(settings: Settings):
    client = create_app(settings).test_client()
    assert client.get("/readyz?checks=redis,sql").status_code == 400


def test_a_worker_gone_quiet_and_a_missed_tick_are_named(settings: Settings, store: Store):
    now = time.time()
    store.worker_heartbeat("sender1@host-a", ["send"], now - WORKER_FRESH_SECONDS - 5)  # SIGKILLed
    store.worker_heartbeat("worker1@host-b", ["celery", "collect"], now)
    store.beat_seen("published", now - 5)
    store.beat_seen("ticked", now - beat_fresh_seconds(settings) - 1)
    ok, report = readiness(settings, store.r, ["workers", "beat"], now=now)
    assert not ok and report["failed"] == ["workers", "beat"]
    workers = report["checks"]["workers"]
    assert workers["queues"]["send"]["workers"] == 0 and workers["queues"]["celery"]["workers"] == 1
    assert "on queue send" in workers["error"] and "host" not in str(report)  # queue named, host not
    assert "no worker runs it" in report["checks"]["beat"]["error"]  # beat sends; nobody runs the tick

    store.beat_seen("ticked", now)
    store.worker_heartbeat("sender2@host-c", ["send"], now)
    assert readiness(settings, store.r, ["workers", "beat"], now=now)[0]
    # a day later nobody has consumed those queues: they no longer count, and nothing is left
    ok, report = readiness(settings, store.r, ["workers"], now=now + 2 * 86400)
    assert not ok and report["checks"]["workers"] == {"ok": False, "error": "no worker has been seen", "queues": {}}
    assert store.r.hlen(store.key("obs", "heartbeats")) == 0


@pytest.mark.slow
def test_readyz_follows_real_workers_and_beats_tick(settings: Settings, store: Store, tmp_path: Path):
    client = create_app(settings).test_client()
    status, report = _ready(client)
    assert status == 503 and report["failed"] == ["workers", "beat"]

    worker = Worker(worker_env(settings), tmp_path / "worker.log", "ready").start()
    try:
        wait_for(lambda: _ready(client, "workers")[0] == 200, 60, 0.3, "the worker's heartbeat")
        queues = _ready(client, "workers")[1]["checks"]["workers"]["queues"]
        assert queues["send"]["workers"] == 1, queues

        # beat's tick, as beat sends it (the test worker consumes `celery`, not `build`)
        make_celery(settings).send_task("digest.tick", queue="celery")
        wait_for(lambda: _ready(client)[0] == 200, 60, 0.3, "digest.tick to run")
        beat = _ready(client)[1]["checks"]["beat"]
        assert beat["ok"] and beat["ticked_seconds_ago"] < 60 and beat["published_seconds_ago"] < 60
    finally:
        worker.stop()
    # a worker that stops on purpose takes its heartbeats with it: not ready at once
    status, report = _ready(client)
    assert status == 503 and report["failed"] == ["workers"], (tmp_path / "worker.log").read_text()[-2000:]
