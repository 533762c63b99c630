"""/healthz and /readyz on real parts: a Redis we stop and start, real Celery workers, beat's tick."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from digest.celery_app import make_celery
from digest.config import Settings
from digest.ops.health import PROBE_CACHE_SECONDS, WORKER_FRESH_SECONDS, RecentAnswer, beat_fresh_seconds, readiness
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
        time.sleep(PROBE_CACHE_SECONDS)  # the broker's answer is kept this long
        started = time.monotonic()
        status, report = _ready(client, "redis,broker")
        assert time.monotonic() - started < 10  # a probe answers; it does not hang on a dead Redis
        assert status == 503 and report["failed"] == ["redis", "broker"]
        assert client.get("/healthz").status_code == 503
        text = client.get("/readyz?checks=redis,broker").get_data(as_text=True)
        assert "127.0.0.1" not in text and str(own.port) not in text  # no host or port to whoever asks

        LocalRedis(own.data_dir, port=own.port).start()
        time.sleep(PROBE_CACHE_SECONDS)
        assert _ready(client, "redis,broker")[0] == 200
        assert client.get("/healthz").status_code == 200
    finally:
        own.stop()
        LocalRedis(own.data_dir, port=own.port).stop()


def test_a_flood_of_readyz_and_metrics_costs_one_broker_probe_per_interval(settings: Settings, tmp_path: Path):
    """Both are open to anyone, and each broker probe is a new connection to it (2 s each with
    the broker gone): requests share one recent answer, and a change shows after the interval."""
    broker = LocalRedis(tmp_path / "broker").start()
    try:
        app = create_app(settings.model_copy(update={"celery_broker_url": broker.url}))
        watch = redis.Redis.from_url(broker.url)

        def connections() -> int:
            return int(watch.info("stats")["total_connections_received"])

        before = connections()
        client = app.test_client()
        assert _ready(client, "broker")[0] == 200 and b"digest_broker_up 1.0" in client.get("/metrics").data
        per_interval = connections() - before  # one readiness probe and one scrape's
        assert per_interval >= 2

        def flood(_: int) -> None:
            own = app.test_client()
            for _ in range(20):
                assert _ready(own, "broker")[0] == 200
                assert own.get("/metrics").status_code == 200

        before, started = connections(), time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(flood, range(8)))
        intervals = int((time.monotonic() - started) / PROBE_CACHE_SECONDS) + 1
        assert connections() - before <= per_interval * intervals  # not 320 requests' worth

        broker.stop()
        time.sleep(PROBE_CACHE_SECONDS)
        status, report = _ready(client, "broker")
        assert status == 503 and report["failed"] == ["broker"]
        assert b"digest_broker_up 0.0" in client.get("/metrics").data
        LocalRedis(broker.data_dir, port=broker.port).start()
        time.sleep(PROBE_CACHE_SECONDS)
        assert _ready(client, "broker")[0] == 200 and b"digest_broker_up 1.0" in client.get("/metrics").data
    finally:
        broker.stop()
        LocalRedis(broker.data_dir, port=broker.port).stop()


def test_a_recent_answer_is_probed_once_by_many_threads_and_again_after_its_interval():
    clock, probes = [100.0], []

    def probe() -> int:
        probes.append(clock[0])
        time.sleep(0.2)  # a slow broker: every thread arrives while the first probe runs
        return len(probes)

    recent, start = RecentAnswer(probe, seconds=2.0, clock=lambda: clock[0]), threading.Barrier(16)

    def ask(_: int) -> int:
        start.wait()
        return recent()

    with ThreadPoolExecutor(16) as pool:
        assert list(pool.map(ask, range(16))) == [1] * 16
    clock[0] += 1.75
    assert recent() == 1 and len(probes) == 1
    clock[0] += 0.25  # the interval is over: the next asker sees a fresh answer
    assert recent() == 2 and probes == [100.0, 102.0]


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
