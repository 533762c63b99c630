"""Endpoints for machines: /healthz and /readyz for load balancers and orchestrators, /metrics for Prometheus.

    /healthz   the process is alive and its Redis answers (200, else 503)
    /readyz    Redis and the broker answer, a worker was heard from recently on every queue
               workers consumed, beat's digest.tick ran recently (200, else 503 naming the failed
               checks); ?checks=redis,broker runs only those (a web process's load balancer may
               not want to drop it because no sender runs)
    /metrics   Prometheus text; with METRICS_TOKEN set, only for "Authorization: Bearer <token>"

Both are open to anyone who reaches the process, and the broker's answer costs a new
connection to it: the broker check and the queue depths are each probed at most once per
PROBE_CACHE_SECONDS per process, whatever the number of requests (health.RecentAnswer).

Answers name no host, port or secret: the details go to the log. The blueprint's
setup (registered once per app) also points the process's logging at digest's
formatter (digest/ops/logs.py), so the web process logs like the workers.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import redis
from flask import Blueprint, Response, current_app, request
from flask.blueprints import BlueprintSetupState
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from digest.ops.health import CHECKS, Check, RecentAnswer, check_broker, probe_client, readiness
from digest.ops.logs import configure_logging
from digest.ops.metrics.exposition import DigestCollector
from digest.web.shared import shared

log = logging.getLogger(__name__)
blueprint = Blueprint("machine", __name__)


class Machine:
    """What the machine endpoints keep per app: a Redis client with short timeouts, the registry,
    the broker check's recent answer."""

    def __init__(self, client: redis.Redis, registry: CollectorRegistry, broker: RecentAnswer[Check]) -> None:
        self.client, self.registry, self.broker = client, registry, broker


@blueprint.record_once
def _setup(state: BlueprintSetupState) -> None:
    settings = state.app.extensions["digest"].settings
    configure_logging(settings)
    client = probe_client(settings)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DigestCollector(settings, client))
    broker = RecentAnswer(lambda: check_broker(settings))
    state.app.extensions["digest.machine"] = Machine(client, registry, broker)


def _machine() -> Machine:
    return current_app.extensions["digest.machine"]  # type: ignore[no-any-return]


@blueprint.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    """Alive and Redis answers. The error goes to the log, not to whoever asks: it names hosts."""
    try:
        _machine().client.ping()
    except (redis.RedisError, OSError):
        log.exception("healthz: Redis does not answer")
        return {"status": "error", "redis": "unavailable"}, 503
    return {"status": "ok", "redis": "ok"}, 200


@blueprint.get("/readyz")
def readyz() -> tuple[dict[str, Any], int]:
    wanted = [c.strip() for c in request.args.get("checks", ",".join(CHECKS)).split(",") if c.strip()]
    unknown = [c for c in wanted if c not in CHECKS]
    if unknown or not wanted:
        return {"status": "error", "error": f"checks must be some of {', '.join(CHECKS)}"}, 400
    machine = _machine()
    ok, report = readiness(shared().settings, machine.client, dict.fromkeys(wanted), broker=machine.broker)
    return report, 200 if ok else 503


@blueprint.get("/metrics")
def metrics() -> Response:
    token = shared().settings.metrics_token
    if token is not None:
        given = request.headers.get("Authorization", "")
        expected = f"Bearer {token.get_secret_value()}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return Response("a bearer token is required (METRICS_TOKEN)\n", 401,
                            {"WWW-Authenticate": 'Bearer realm="metrics"'}, mimetype="text/plain")
    return Response(generate_latest(_machine().registry), 200, {"Content-Type": CONTENT_TYPE_LATEST})
