"""The Celery app and its beat schedule, in one table.

Redis is the broker (REDIS_URL, or CELERY_BROKER_URL when set). Tasks carry ids
only; their logic lives in plain functions (digest.tasks says which).

Queues: `celery` (collection, planning) and `send` (batches), so ops can run
senders apart: `celery -A digest.celery_app worker -Q send`.
"""

from __future__ import annotations

from celery import Celery
from celery.schedules import crontab

from digest.config import Settings, load_settings


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
    }


def make_celery(settings: Settings) -> Celery:
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
    return app


settings = load_settings()
app = make_celery(settings)
