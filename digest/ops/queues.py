"""Where each task runs, how long it may take, and what the broker must allow for that.

Queues (each a process type in the Procfile, so each scales on its own):

    collect   collect_all (beat) and one `collect` per due feed       -> `worker`
    build     tick (beat), start_slot, send_issue: plan and render     -> `worker`
    celery    apply_events (the web process names this queue), and
              anything queued by name without a route                  -> `worker`
    send      send_batches (up to eight batches), send_batch (one):
              one SendGrid request a batch                             -> `sender`

Every task has a soft time limit (the task can unwind) and a hard one (the pool
kills the process). The broker must hold an unacknowledged task for longer than
the longest a worker keeps one (`longest_hold`): a task held past the Redis
transport's visibility timeout, or RabbitMQ's consumer_timeout, is handed to a
second worker while the first still runs it.
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from kombu import Exchange, Queue

from digest.config import Settings

COLLECT, BUILD, DEFAULT, SEND = "collect", "build", "celery", "send"
WORKER_QUEUES = (COLLECT, BUILD, DEFAULT)  # the Procfile's `worker`
SENDER_QUEUES = (SEND,)  # the Procfile's `sender`
ALL_QUEUES = WORKER_QUEUES + SENDER_QUEUES

ROUTES = {
    "digest.collect_all": COLLECT,
    "digest.collect": COLLECT,
    "digest.tick": BUILD,
    "digest.start_slot": BUILD,
    "digest.send_issue": BUILD,
    "digest.send_batch": SEND,
    "digest.send_batches": SEND,
    "digest.apply_events": DEFAULT,
}

# Between the soft limit and the hard one: time for a task to unwind after SoftTimeLimitExceeded.
KILL_GRACE_SECONDS = 30
# Time a collection may spend besides its fetch: resolving the feed's host (the
# system resolver's timeouts, not the fetch deadline, bound getaddrinfo: 5 s per
# try and server by default), parsing up to FETCH_MAX_BYTES (5 MB of XML parses
# in a few seconds), storing up to FEED_MAX_ITEMS articles (a Redis round trip
# and an HTML clean-up each, well under a second per hundred), and waiting up to
# digest.tasks.HOST_WAIT (10 s) for a slot of the feed's host.
COLLECT_PROCESSING_SECONDS = 60
# Planning an issue (send_issue, start_slot): rendering (premailer once per variant),
# copying every topic-choice set (Redis COPY, O(subscribers): ~1 s per million) and
# writing one hash field per batch; minutes at tens of millions of subscribers.
PLAN_SECONDS = 900
# A batch besides its request: reading 1,000 addresses and records (one Lua call),
# signing 1,000 tokens, building the JSON, and the ledger's writes.
SEND_BUILD_SECONDS = 60
# A send task carries up to SEND_GROUP batches (digest.send_batches): Celery's own cost
# per task (kombu's bookkeeping in the worker's main process and in Redis, ~2 ms) was
# the largest part of a batch after its request. It starts another of its batches only
# within SEND_GROUP_SECONDS of its start and queues the rest as a task of their own, so
# a worker told to stop (it finishes the task it runs) still stops within one batch's
# limits (those seconds come out of SEND_BUILD_SECONDS, which a batch's building, a few
# milliseconds, never needs); each batch is claimed on its own, so a task delivered
# twice sends nothing twice.
SEND_GROUP = 8
SEND_GROUP_SECONDS = 2
# Small Redis-only tasks: a tick, the fan-out of due feeds, a webhook body (<= 5 MB of events).
SHORT_SECONDS = 120
EVENTS_SECONDS = 300
# No retry or deferral is queued with a longer countdown: a worker holds such a task,
# unacknowledged, from delivery until it runs (Redis transport and RabbitMQ alike).
MAX_COUNTDOWN = 300
# RabbitMQ's default consumer_timeout (3.8.15 and later): a delivery unacknowledged
# for longer closes the channel. longest_hold must stay under it.
RABBITMQ_CONSUMER_TIMEOUT = 1800


def collect_time_limits(settings: Settings) -> tuple[int, int]:
    """(soft, hard) time limits of one feed's collection, in seconds.

    The feed's fetch ends by FETCH_DEADLINE (digest.collect.fetch), and its article
    pages share one more (digest.collect.fulltext); the limits only catch what the
    deadlines do not cover. Defaults: 60 s deadline -> 180 s soft, 210 s hard.
    """
    soft = 2 * math.ceil(settings.fetch_deadline) + COLLECT_PROCESSING_SECONDS
    return soft, soft + KILL_GRACE_SECONDS


def send_time_limits(settings: Settings) -> tuple[int, int]:
    """(soft, hard) time limits of one batch: twice SENDGRID_TIMEOUT (the client's timeout
    bounds the connect and each read separately) plus building it. Defaults: 120 s, 150 s.
    A limit hit mid-request leaves the batch `submitting`: it becomes unconfirmed, never resent."""
    soft = math.ceil(2 * settings.sendgrid_timeout) + SEND_BUILD_SECONDS
    return soft, soft + KILL_GRACE_SECONDS


def send_messages(issue_id: str, batch_ids: list[str]) -> list[tuple[str, list[object]]]:
    """The send tasks (name, args) that carry these batches, SEND_GROUP to a task."""
    messages: list[tuple[str, list[object]]] = []
    for start in range(0, len(batch_ids), SEND_GROUP):
        group = batch_ids[start:start + SEND_GROUP]
        if len(group) == 1:
            messages.append(("digest.send_batch", [issue_id, group[0]]))
        else:
            messages.append(("digest.send_batches", [issue_id, group]))
    return messages


def time_limits(settings: Settings) -> dict[str, tuple[int, int]]:
    """(soft, hard) per task name; every routed task has one."""
    short = (SHORT_SECONDS, SHORT_SECONDS + KILL_GRACE_SECONDS)
    plan = (PLAN_SECONDS, PLAN_SECONDS + KILL_GRACE_SECONDS)
    return {
        "digest.collect_all": short,
        "digest.collect": collect_time_limits(settings),
        "digest.tick": short,
        "digest.start_slot": plan,
        "digest.send_issue": plan,
        "digest.send_batch": send_time_limits(settings),
        "digest.send_batches": send_time_limits(settings),  # its last batch starts within SEND_GROUP_SECONDS
        "digest.apply_events": (EVENTS_SECONDS, EVENTS_SECONDS + KILL_GRACE_SECONDS),
    }


def longest_hold(settings: Settings) -> int:
    """The longest a worker may hold a task unacknowledged: the longest countdown, then
    the longest hard limit (defaults: 300 + 930 = 1,230 s)."""
    return MAX_COUNTDOWN + max(hard for _, hard in time_limits(settings).values())


def longest_send_stop(settings: Settings) -> int:
    """How long a sender may take to stop after SIGTERM (warm shutdown): the batch it is
    sending finishes first, at most the batch's hard limit; usually SENDGRID_TIMEOUT at most."""
    return send_time_limits(settings)[1]


def is_redis_broker(settings: Settings) -> bool:
    return urlsplit(settings.broker_url).scheme in ("redis", "rediss", "unix")


def broker_transport_options(settings: Settings) -> dict[str, object]:
    """Options of the broker's transport. Those below exist only for Redis; RabbitMQ hands
    a dead consumer's deliveries back at once and needs none of them."""
    if not is_redis_broker(settings):
        return {}
    return {
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
        # On RabbitMQ the same separation is a vhost per installation.
        "global_keyprefix": f"{settings.redis_prefix}:celery:",
    }


def task_queues(settings: Settings) -> list[Queue] | None:
    """The queues to declare, or None: Celery declares each as it is first used, durable,
    its messages persistent. CELERY_QUEUE_TYPE=quorum (RabbitMQ): quorum queues, replicated
    across the cluster; their countdowns use Celery's native delayed delivery, which needs
    topic exchanges (a direct one would hold a retried task in a worker until it is due)."""
    if is_redis_broker(settings) or settings.celery_queue_type != "quorum":
        return None
    return [Queue(name, Exchange(name, type="topic"), routing_key=name, durable=True,
                  queue_arguments={"x-queue-type": "quorum"}) for name in ALL_QUEUES]


def countdown(settings: Settings, seconds: float) -> float:
    """A retry's or deferral's delay as queued: at most MAX_COUNTDOWN; on quorum queues whole
    seconds, at least one (Celery's native delayed delivery refuses a countdown under 1 s,
    and the task would be dropped)."""
    seconds = min(max(0.0, seconds), MAX_COUNTDOWN)
    if task_queues(settings) is not None:
        return max(1, math.ceil(seconds))
    return seconds


def check_visibility_timeout(settings: Settings) -> str | None:
    """A warning when a running collection could be redelivered to a second worker, else None."""
    if not is_redis_broker(settings):
        return None
    _soft, hard = collect_time_limits(settings)
    if settings.visibility_timeout > hard:
        return None
    return (
        f"VISIBILITY_TIMEOUT ({settings.visibility_timeout} s) is not longer than a feed collection's "
        f"time limit ({hard} s, from FETCH_DEADLINE={settings.fetch_deadline:g} s): the broker may hand "
        f"a collection that is still running to a second worker. Set VISIBILITY_TIMEOUT above {hard}."
    )


def check_broker(settings: Settings) -> list[str]:
    """Warnings about the broker's limits against the tasks' (see the module docstring)."""
    warnings = [w for w in [check_visibility_timeout(settings)] if w]
    hold = longest_hold(settings)
    if is_redis_broker(settings):
        if not warnings and settings.visibility_timeout <= hold:
            warnings.append(
                f"VISIBILITY_TIMEOUT ({settings.visibility_timeout} s) is not longer than the longest a worker "
                f"holds a task ({hold} s: a {MAX_COUNTDOWN} s retry countdown, then the longest time limit): "
                f"such a task may run twice (a batch would then show as unconfirmed). Set it above {hold}.")
    elif hold >= RABBITMQ_CONSUMER_TIMEOUT:
        warnings.append(
            f"a worker may hold a task for {hold} s (SENDGRID_TIMEOUT, FETCH_DEADLINE): raise RabbitMQ's "
            f"consumer_timeout (default {RABBITMQ_CONSUMER_TIMEOUT} s) above it, or its channel is closed.")
    return warnings
