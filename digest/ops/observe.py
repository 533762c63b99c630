"""What every Celery process (worker and beat) does to be seen: log lines, heartbeats, beat's tick.

`install(app, settings)` (called once by digest.celery_app.make_celery) connects:

    after_setup_logger, after_setup_task_logger   Celery's handlers write digest's lines (digest/ops/logs.py)
    task_prerun / task_postrun                    the task's ids (its arguments named list_slug,
                                                  issue_id, feed_id, batch_id) on every line it logs
    worker_ready / worker_shutting_down /         a heartbeat per consumed queue every HEARTBEAT_SECONDS,
      worker_shutdown                             removed when the worker stops on purpose
    before_task_publish, task_success             when beat sent digest.tick, and when a worker ran it

Celery's signals are process-wide; each handler finds its app's settings in
_SETTINGS, so tests that make several apps in one process keep them apart. Nothing
here may fail a task: a heartbeat or tick that cannot be written is logged.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
import weakref
from functools import lru_cache
from typing import Any

import redis
from celery import Celery, Task, signals

from digest.config import Settings
from digest.ops.health import HEARTBEAT_SECONDS
from digest.ops.logs import LOG_CONTEXT, clean_id, use_formatter
from digest.store.base import connect
from digest.store.metrics import MetricsStore

log = logging.getLogger(__name__)

TICK_TASK = "digest.tick"
# A task's parameters that name what it works on, and the log field each becomes.
ID_PARAMETERS = {"list_slug": "list", "issue_id": "issue", "feed_id": "feed", "batch_id": "batch"}

_SETTINGS: weakref.WeakKeyDictionary[Celery, Settings] = weakref.WeakKeyDictionary()
_CONTEXT_TOKENS: dict[str, Any] = {}  # task id -> the token that restores the log context


def install(app: Celery, settings: Settings) -> None:
    _SETTINGS[app] = settings
    for signal, handler in _HANDLERS:
        signal.connect(handler, weak=False, dispatch_uid=f"digest.ops.observe.{handler.__name__}")


def startup_warnings(settings: Settings) -> list[str]:
    """Settings that are valid but probably not what a production process wants."""
    warnings = []
    if not settings.redis_url:
        warnings.append("REDIS_URL is not set: using redis://127.0.0.1:6379/0")
    if settings.sendgrid_api_key is None:
        warnings.append(f"SENDGRID_API_KEY is not set: messages are written to OUTBOX_DIR ({settings.outbox_dir}), "
                        "not sent")
    return warnings


def _settings(app: Celery | None) -> Settings | None:
    if app is not None and app in _SETTINGS:
        return _SETTINGS[app]
    return next(iter(_SETTINGS.values()), None) if len(_SETTINGS) == 1 else None


@lru_cache(maxsize=8)
def _store(url: str, prefix: str) -> MetricsStore:
    # redis-py's pool notices a fork and reconnects, so one client serves the pool's children too.
    return MetricsStore(connect(url, socket_timeout=5, socket_connect_timeout=5), prefix)


def store_for(settings: Settings) -> MetricsStore:
    return _store(settings.redis_url or settings.broker_url, settings.redis_prefix)


def _safely(what: str, settings: Settings | None, write: Any) -> None:
    if settings is None:
        return
    try:
        write(store_for(settings))
    except (redis.RedisError, OSError) as exc:
        log.warning("%s not recorded: %s", what, exc)


# -- logging ---------------------------------------------------------------------------


def _on_logger(logger: logging.Logger | None = None, **_: Any) -> None:
    from celery import current_app

    settings = _settings(current_app._get_current_object())  # type: ignore[attr-defined]
    if settings is not None and logger is not None:
        use_formatter(logger, settings)


@lru_cache(maxsize=256)
def _id_parameters(task: Task) -> inspect.Signature | None:
    try:
        return inspect.signature(task.run)
    except (TypeError, ValueError):
        return None


def task_ids(task: Task, args: Any, kwargs: Any) -> dict[str, str]:
    """The log fields of a task's call: its name and id, and the ids its arguments name."""
    ids = {"task": clean_id(task.name)}
    signature = _id_parameters(task)
    if signature is not None:
        try:
            bound = signature.bind_partial(*(args or ()), **(kwargs or {}))
        except TypeError:
            return ids
        for name, field in ID_PARAMETERS.items():
            if bound.arguments.get(name) is not None:
                ids[field] = clean_id(bound.arguments[name])
    return ids


def _on_prerun(task_id: str = "", task: Task | None = None, args: Any = None, kwargs: Any = None,
               **_: Any) -> None:
    if task is None:
        return
    ids = {**task_ids(task, args, kwargs), "task_id": clean_id(task_id)}
    _CONTEXT_TOKENS[task_id] = LOG_CONTEXT.set(ids)


def _on_postrun(task_id: str = "", **_: Any) -> None:
    token = _CONTEXT_TOKENS.pop(task_id, None)
    if token is not None:
        try:
            LOG_CONTEXT.reset(token)
        except ValueError:  # set in another context (an eager task inside another): leave it
            LOG_CONTEXT.set({})


# -- beat's tick -------------------------------------------------------------------------


def _on_publish(sender: str | None = None, **_: Any) -> None:
    if sender == TICK_TASK:  # only beat sends it
        from celery import current_app

        settings = _settings(current_app._get_current_object())  # type: ignore[attr-defined]
        _safely("beat's publish time", settings, lambda s: s.beat_seen("published", time.time()))


def _on_success(sender: Task | None = None, **_: Any) -> None:
    if sender is not None and sender.name == TICK_TASK:
        _safely("digest.tick's run", _settings(sender.app), lambda s: s.beat_seen("ticked", time.time()))


# -- worker heartbeats -----------------------------------------------------------------------


class Heartbeat:
    """A thread of the worker's main process writing, every HEARTBEAT_SECONDS, which queues it consumes.
    Its own thread rather than Celery's event heartbeat: that one is off with --without-heartbeat."""

    current: Heartbeat | None = None

    def __init__(self, consumer: Any, settings: Settings) -> None:
        self.consumer, self.settings = consumer, settings
        self.node = str(consumer.hostname)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, name="digest-heartbeat", daemon=True)

    def queues(self) -> list[str]:
        task_consumer = getattr(self.consumer, "task_consumer", None)
        if task_consumer is not None and task_consumer.queues:
            return sorted(q.name for q in task_consumer.queues)
        return sorted(self.consumer.app.amqp.queues.consume_from)

    def beat(self) -> None:
        _safely("worker heartbeat", self.settings,
                lambda s: s.worker_heartbeat(self.node, self.queues(), time.time()))

    def run(self) -> None:
        self.beat()
        while not self.stopped.wait(HEARTBEAT_SECONDS):
            self.beat()

    def stop(self) -> None:
        self.stopped.set()
        _safely("worker stop", self.settings, lambda s: s.worker_gone(self.node))


def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    settings = _settings(getattr(sender, "app", None))
    if sender is None or settings is None:
        return
    Heartbeat.current = Heartbeat(sender, settings)
    Heartbeat.current.thread.start()
    for warning in startup_warnings(settings):
        log.warning("%s", warning)


def _on_shutting_down(**_: Any) -> None:
    if Heartbeat.current is not None:
        Heartbeat.current.stopped.set()  # a signal handler: only set the flag here


def _on_worker_shutdown(**_: Any) -> None:
    if Heartbeat.current is not None:
        Heartbeat.current.stop()
        Heartbeat.current = None


_HANDLERS = (
    (signals.after_setup_logger, _on_logger),
    (signals.after_setup_task_logger, _on_logger),
    (signals.task_prerun, _on_prerun),
    (signals.task_postrun, _on_postrun),
    (signals.before_task_publish, _on_publish),
    (signals.task_success, _on_success),
    (signals.worker_ready, _on_worker_ready),
    (signals.worker_shutting_down, _on_shutting_down),
    (signals.worker_shutdown, _on_worker_shutdown),
)
