"""Endpoints for machines: /healthz for load balancers and orchestrators."""

from __future__ import annotations

import logging

import redis
from flask import Blueprint

from digest.web.shared import shared

log = logging.getLogger(__name__)
blueprint = Blueprint("machine", __name__)


@blueprint.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    """Alive and Redis answers. The error goes to the log, not to whoever asks: it names hosts."""
    try:
        shared().store.r.ping()
    except (redis.RedisError, OSError):
        log.exception("healthz: Redis does not answer")
        return {"status": "error", "redis": "unavailable"}, 503
    return {"status": "ok", "redis": "ok"}, 200
