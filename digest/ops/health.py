"""Readiness: does Redis answer, does the broker answer, are workers and beat alive?

/readyz (digest/web/machine.py) runs the checks; each says what is wrong in words
that name no host, port or secret (those go to the log). Workers write a heartbeat
every HEARTBEAT_SECONDS per queue they consume (digest/ops/observe.py), so "no
sender seen" shows as the `send` queue having no fresh worker; a worker stopping
on purpose removes its own heartbeats. Beat's digest.tick records when it ran.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import redis
from kombu import Connection

from digest.config import Settings
from digest.ops import queues
from digest.store.base import connect
from digest.store.metrics import MetricsStore

log = logging.getLogger(__name__)

# Workers write a heartbeat this often; one not heard from in four is gone.
HEARTBEAT_SECONDS = 15.0
WORKER_FRESH_SECONDS = 4 * HEARTBEAT_SECONDS
# A probe must answer fast: load balancers time out in a few seconds.
CHECK_TIMEOUT = 2.0
CHECKS = ("redis", "broker", "workers", "beat")
# /readyz and /metrics are open to floods, and each broker probe is a new connection (up to
# CHECK_TIMEOUT with the broker down): its answer is kept this long, per process.
PROBE_CACHE_SECONDS = 1.0

T = TypeVar("T")


class RecentAnswer(Generic[T]):
    """A probe's last answer, kept `seconds` after it came and shared by the process's threads,
    so a flood of requests costs one probe per interval. One probe runs at a time: meanwhile the
    others take the previous answer (at most `seconds` + the probe's run old), or wait for this
    one when there is none yet. A probe that raises is not kept."""

    def __init__(self, probe: Callable[[], T], seconds: float = PROBE_CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._probe, self._seconds, self._clock = probe, seconds, clock
        self._running = threading.Lock()
        self._answer: tuple[float, T] | None = None  # (when it came, the answer): replaced whole

    def __call__(self) -> T:
        answer = self._answer
        if answer is not None and self._clock() - answer[0] < self._seconds:
            return answer[1]
        if not self._running.acquire(blocking=answer is None):
            assert answer is not None
            return answer[1]
        try:
            answer = self._answer
            if answer is not None and self._clock() - answer[0] < self._seconds:
                return answer[1]  # another thread's probe answered while this one waited
            value = self._probe()
            self._answer = (self._clock(), value)
            return value
        finally:
            self._running.release()


def beat_fresh_seconds(settings: Settings) -> float:
    """Two ticks missed, plus time for a busy worker to take the tick from the queue."""
    return 2 * settings.schedule_tick_seconds + 60


def broker_transport_options(settings: Settings) -> dict[str, Any]:
    """The Celery app's broker options (where queues live), with a probe's short timeouts."""
    options = dict(queues.broker_transport_options(settings))
    if queues.is_redis_broker(settings):
        options.update(socket_timeout=CHECK_TIMEOUT, socket_connect_timeout=CHECK_TIMEOUT)
    return options


def probe_client(settings: Settings) -> redis.Redis:
    """A client of the store's Redis that gives up after CHECK_TIMEOUT instead of hanging the probe."""
    return connect(settings.redis_url or settings.broker_url,  # type: ignore[return-value]
                   socket_timeout=CHECK_TIMEOUT, socket_connect_timeout=CHECK_TIMEOUT)


@dataclass
class Check:
    ok: bool
    error: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        return {"ok": self.ok, **({"error": self.error} if self.error else {}), **self.detail}


def check_redis(client: redis.Redis) -> Check:
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        log.warning("readyz: Redis does not answer: %s", exc)
        return Check(False, f"Redis does not answer ({type(exc).__name__})")
    return Check(True)


def check_broker(settings: Settings) -> Check:
    """Connect to the broker (Redis or AMQP) through kombu, once, within CHECK_TIMEOUT."""
    try:
        with Connection(settings.broker_url, connect_timeout=CHECK_TIMEOUT,
                        transport_options=broker_transport_options(settings)) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=CHECK_TIMEOUT)
            conn.default_channel  # noqa: B018  # Redis: the channel's PING; AMQP: the channel opens
    except Exception as exc:  # kombu raises its own, the transport's and socket errors alike
        log.warning("readyz: the broker does not answer: %s", exc)
        return Check(False, f"the broker does not answer ({type(exc).__name__})")
    return Check(True)


def check_workers(store: MetricsStore, now: float) -> Check:
    """Every queue a worker consumed in the last day has a worker heard from recently."""
    try:
        beats = store.worker_heartbeats(now)
    except (redis.RedisError, OSError) as exc:
        return Check(False, f"cannot read heartbeats ({type(exc).__name__})")
    queues = {}
    for queue, times in sorted(beats.items()):
        fresh = [t for t in times if now - t <= WORKER_FRESH_SECONDS]
        queues[queue] = {"workers": len(fresh), "last_seen_seconds": round(now - max(times), 1)}
    missing = [q for q, seen in queues.items() if not seen["workers"]]
    if not queues:
        return Check(False, "no worker has been seen", {"queues": {}})
    if missing:
        return Check(False, f"no worker seen in the last {WORKER_FRESH_SECONDS:g} s on queue "
                            f"{', '.join(missing)}", {"queues": queues})
    return Check(True, detail={"queues": queues})


def check_beat(store: MetricsStore, settings: Settings, now: float) -> Check:
    try:
        times = store.beat_times()
    except (redis.RedisError, OSError) as exc:
        return Check(False, f"cannot read beat's times ({type(exc).__name__})")
    detail = {f"{what}_seconds_ago": round(now - at, 1) for what, at in sorted(times.items())}
    ticked, limit = times.get("ticked"), beat_fresh_seconds(settings)
    if ticked is None:
        return Check(False, "digest.tick has never run: is beat running, and a worker on its queue?", detail)
    if now - ticked > limit:
        why = "beat is not sending it" if now - times.get("published", 0) > limit else "no worker runs it"
        return Check(False, f"digest.tick has not run for {now - ticked:.0f} s (expected every "
                            f"{settings.schedule_tick_seconds:g} s): {why}", detail)
    return Check(True, detail=detail)


def readiness(settings: Settings, client: redis.Redis, names: Iterable[str] = CHECKS,
              now: float | None = None, broker: Callable[[], Check] | None = None) -> tuple[bool, dict[str, Any]]:
    """Run the named checks; (all passed, a report naming the failed ones). `broker`: how to
    check the broker (the web process passes a RecentAnswer of check_broker)."""
    now = time.time() if now is None else now
    store = MetricsStore(client, settings.redis_prefix)
    run: dict[str, Callable[[], Check]] = {
        "redis": lambda: check_redis(client),
        "broker": broker or (lambda: check_broker(settings)),
        "workers": lambda: check_workers(store, now),
        "beat": lambda: check_beat(store, settings, now),
    }
    results = {name: run[name]() for name in names}
    failed = [name for name, check in results.items() if not check.ok]
    report = {"status": "unready" if failed else "ready", "failed": failed,
              "checks": {name: check.report() for name, check in results.items()}}
    return not failed, report
