"""The Celery app, its queues and its beat schedule.

Redis is the broker (REDIS_URL, or CELERY_BROKER_URL when set: RabbitMQ works too).
Tasks carry ids only; their logic lives in plain functions (digest.tasks says which).
Queues, time limits and what the broker must allow for them: digest/ops/queues.py.

Beat is celery-redbeat: the schedule and each entry's last run live in the store's
Redis (so a restarted beat neither repeats nor forgets a run), and a lock there lets
one beat schedule at a time: a second beat waits, and takes over when the first
stops (at once) or dies (within BEAT_LOCK_SECONDS).
"""

from __future__ import annotations

import logging

from celery import Celery, bootsteps
from celery.schedules import crontab

from digest.config import Settings, load_settings
from digest.errors import ConfigError
from digest.ops import observe, queues
from digest.ops.queues import check_visibility_timeout, collect_time_limits
from digest.store.base import is_cluster_url, key_name, plain_url

log = logging.getLogger(__name__)

__all__ = ["app", "beat_schedule", "check_visibility_timeout", "collect_time_limits", "make_celery", "settings"]

# Beat wakes at least this often: it extends its lock then, and a waiting beat tries
# to take the lock this often.
BEAT_MAX_LOOP_SECONDS = 5.0
# A dead beat's lock expires after this many of its loops: a few missed extensions,
# not one slow Redis round trip, hand the schedule to the other beat.
BEAT_LOCK_LOOPS = 6


def beat_loop_seconds(settings: Settings) -> float:
    """How often beat wakes: at least every BEAT_MAX_LOOP_SECONDS, and once per tick."""
    return min(BEAT_MAX_LOOP_SECONDS, settings.schedule_tick_seconds)


def _cron(expr: str) -> crontab:
    minute, hour, day_of_month, month_of_year, day_of_week = expr.split()
    return crontab(minute, hour, day_of_week, day_of_month, month_of_year)


def beat_schedule(settings: Settings) -> dict[str, dict[str, object]]:
    return {
        "collect-feeds": {
            "task": "digest.collect_all",
            "schedule": _cron(settings.collect_schedule),
            # Runs must not pile up while workers are down: one not started within 25 min
            # is dropped (the next run collects every due feed anyway).
            "options": {"expires": 25 * 60},
        },
        "schedule-tick": {
            "task": "digest.tick",
            "schedule": float(settings.schedule_tick_seconds),
            # A tick that waited longer than the next one is useless: the next one does its work.
            "options": {"expires": float(settings.schedule_tick_seconds)},
        },
    }


def make_celery(settings: Settings) -> Celery:
    # Warnings, not refusals: a short visibility timeout is a legitimate choice for
    # quick redelivery of send batches (the ledger makes those safe); it only costs
    # a collection done twice, which stores nothing twice.
    for warning in queues.check_broker(settings):
        log.warning("%s", warning)
    store_url = settings.redis_url or settings.broker_url
    # On a Redis Cluster, redbeat takes a seed node's plain URL and its cluster option;
    # its keys share one hash tag (key_name), so its lock and schedule stay in one slot.
    redbeat_options = {"cluster": True} if is_cluster_url(store_url) else {}
    app = Celery("digest", broker=settings.broker_url, include=["digest.tasks"])
    app.conf.update(
        task_ignore_result=True,
        result_expires=None,  # no result backend, so no daily celery.backend_cleanup entry in beat
        # A task is acknowledged when it ends, not when it starts, so a task lost with its
        # worker is delivered again (the ledger's claim decides what a redelivered batch
        # does). A warm shutdown (SIGTERM) lets running tasks end and hands back the rest.
        task_acks_late=True,
        task_reject_on_worker_lost=True,  # ... also when the pool process is killed
        # A task that hits its hard time limit is handed back too (a batch: the claim
        # then finds it submitting and marks it unconfirmed). One that fails on an
        # unexpected error is dropped, not retried in a loop: its batch stays open in
        # the ledger (pending, or unconfirmed by its lease), and `digest send resume` queues it.
        task_acks_on_failure=False,
        task_acks_on_timeout=False,
        # One task per pool process at a time: a long collection never sits on a
        # prefetched batch another sender could take, and a stopping worker hands back little.
        worker_prefetch_multiplier=1,
        task_default_queue=queues.DEFAULT,
        task_create_missing_queues=True,
        task_queues=queues.task_queues(settings),
        task_routes={name: {"queue": queue} for name, queue in queues.ROUTES.items()},
        broker_transport_options=queues.broker_transport_options(settings),
        broker_connection_retry_on_startup=True,
        beat_schedule=beat_schedule(settings),
        beat_scheduler="redbeat.RedBeatScheduler",
        beat_max_loop_interval=beat_loop_seconds(settings),
        # The schedule, the lock and each entry's last run: in the store's Redis, under
        # the installation's prefix (as the queues are), whatever the broker.
        redbeat_redis_url=plain_url(store_url),
        redbeat_redis_options=redbeat_options,
        redbeat_key_prefix=key_name(settings.redis_prefix, "redbeat", ""),
        redbeat_lock_timeout=int(beat_lock_seconds(settings)),
        timezone="UTC",
        worker_hijack_root_logger=False,
    )
    app.steps["worker"].add(RequireSecretKey)
    observe.install(app, settings)  # log lines with task ids, worker heartbeats, beat's tick (digest/ops/observe.py)
    return app


def beat_lock_seconds(settings: Settings) -> float:
    """How long a dead beat's lock outlives it (30 s by default): the other beat waits that long."""
    return max(5.0, BEAT_LOCK_LOOPS * beat_loop_seconds(settings))


class RequireSecretKey(bootsteps.Step):
    """A worker refuses to start without a real SECRET_KEY: it signs every reader's links.

    A bootstep, because an error raised here stops the worker before it takes a
    task (signal handlers' errors are only logged).
    """

    def __init__(self, parent: object, **kwargs: object) -> None:
        super().__init__(parent, **kwargs)
        settings.require_secret_key()


try:  # a worker or beat started with a bad setting says which, not a traceback
    settings = load_settings()
except ConfigError as exc:
    raise SystemExit(f"digest: {exc}") from None
app = make_celery(settings)
