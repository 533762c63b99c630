"""The Celery app and its beat schedule, in one table.

Redis is the broker (REDIS_URL, or CELERY_BROKER_URL when set). Tasks carry ids
only; their logic lives in plain functions (digest.tasks says which).

Queues: `celery` (collection, planning) and `send` (batches), so ops can run
senders apart: `celery -A digest.celery_app worker -Q send`.

Collection tasks have time limits derived from FETCH_DEADLINE
(`collect_time_limits`); the broker's visibility timeout must be longer, or a
collection still running would be handed to a second worker. `make_celery` logs
a warning at start-up when it is not.
"""

from __future__ import annotations

import logging

from celery import Celery, bootsteps
from celery.schedules import crontab

from digest.config import Settings, load_settings

log = logging.getLogger(__name__)

# Time a collection may spend besides its fetch: resolving the feed's host (the
# system resolver's timeouts, not the fetch deadline, bound getaddrinfo: 5 s per
# try and server by default), parsing up to FETCH_MAX_BYTES (5 MB of XML parses
# in a few seconds), storing up to FEED_MAX_ITEMS articles (a Redis round trip
# and an HTML clean-up each, well under a second per hundred), and waiting up to
# digest.tasks.HOST_WAIT (10 s) for a slot of the feed's host.
COLLECT_PROCESSING_SECONDS = 60
# Between the soft limit (SoftTimeLimitExceeded in the task, which logs it) and the
# hard one (the pool kills the process): time for the task to unwind.
COLLECT_KILL_GRACE_SECONDS = 30


def collect_time_limits(settings: Settings) -> tuple[int, int]:
    """(soft, hard) time limits of one feed's collection, in seconds.

    The fetch itself ends by FETCH_DEADLINE (digest.collect.fetch); the limits only
    catch what the deadline does not cover. Defaults: 60 s deadline -> 120 s soft, 150 s hard.
    """
    soft = int(settings.fetch_deadline + 0.999) + COLLECT_PROCESSING_SECONDS
    return soft, soft + COLLECT_KILL_GRACE_SECONDS


def _cron(expr: str) -> crontab:
    minute, hour, day_of_month, month_of_year, day_of_week = expr.split()
    return crontab(minute, hour, day_of_week, day_of_month, month_of_year)


def beat_schedule(settings: Settings) -> dict[str, dict[str, object]]:
    return {
        "collect-feeds": {
            "task": "digest.collect_all",
            "schedule": _cron(settings.collect_schedule),
            # Runs must not pile up while workers are down.
            "options": {"expires": 25 * 60},
        },
        "schedule-tick": {
            "task": "digest.tick",
            "schedule": float(settings.schedule_tick_seconds),
            # A tick that waited longer than the next one is useless: the next one does its work.
            "options": {"expires": float(settings.schedule_tick_seconds)},
        },
    }


def check_visibility_timeout(settings: Settings) -> str | None:
    """A warning when running collections could be redelivered to a second worker, else None."""
    _soft, hard = collect_time_limits(settings)
    if settings.visibility_timeout > hard:
        return None
    return (
        f"VISIBILITY_TIMEOUT ({settings.visibility_timeout} s) is not longer than a feed collection's "
        f"time limit ({hard} s, from FETCH_DEADLINE={settings.fetch_deadline:g} s): the broker may hand "
        f"a collection that is still running to a second worker. Set VISIBILITY_TIMEOUT above {hard}."
    )


def make_celery(settings: Settings) -> Celery:
    # A warning, not a refusal: a short visibility timeout is a legitimate choice
    # for quick redelivery of send batches (the ledger makes those safe); it only
    # costs a collection done twice, which stores nothing twice.
    warning = check_visibility_timeout(settings)
    if warning:
        log.warning("%s", warning)
    app = Celery("digest", broker=settings.broker_url, include=["digest.tasks"])
    app.conf.update(
        task_ignore_result=True,
        task_acks_late=True,  # a task lost with its worker is redelivered ...
        task_reject_on_worker_lost=True,  # ... including when the process is killed
        # A task that dies on an unexpected error is not acknowledged either: it
        # comes back after the visibility timeout and the claim decides (ledger.py).
        task_acks_on_failure_or_timeout=False,
        worker_prefetch_multiplier=1,
        task_routes={"digest.send_batch": {"queue": "send"}},
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout,
            # Look for tasks of dead workers every few seconds (kombu's default
            # sweep is every 100 s, whatever the visibility timeout).
            "unacked_restore_interval": max(1, min(10, settings.visibility_timeout // 5)),
            "unacked_restore_throttle": 1,
            # A worker killed during that sweep leaves its lock behind; it must
            # expire well before anyone would wait for a redelivery.
            "unacked_mutex_expire": min(300, settings.visibility_timeout),
            # Queues live under the same prefix as the data, so installations
            # (and test runs) sharing one Redis never take each other's tasks.
            "global_keyprefix": f"{settings.redis_prefix}:celery:",
        },
        broker_connection_retry_on_startup=True,
        beat_schedule=beat_schedule(settings),
        timezone="UTC",
        worker_hijack_root_logger=False,
    )
    app.steps["worker"].add(RequireSecretKey)
    return app


class RequireSecretKey(bootsteps.Step):
    """A worker refuses to start without a real SECRET_KEY: it signs every reader's links.

    A bootstep, because an error raised here stops the worker before it takes a
    task (signal handlers' errors are only logged).
    """

    def __init__(self, parent: object, **kwargs: object) -> None:
        super().__init__(parent, **kwargs)
        settings.require_secret_key()


settings = load_settings()
app = make_celery(settings)
