"""Thin Celery tasks: ids in, a plain function does the work, a short summary out.

Each task's queue and (soft, hard) time limits come from digest/ops/queues.py.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from functools import lru_cache

from celery.exceptions import SoftTimeLimitExceeded

from digest import dispatch
from digest.celery_app import app, settings
from digest.collect.collector import collect_feed, due_feeds
from digest.deliver import make_sender
from digest.deliver.base import Sender
from digest.deliver.ledger import Ledger
from digest.deliver.send import HaltSend, RetryLater, prepare_issue, send_batch, settle_sends
from digest.ops import queues
from digest.store import Store

log = logging.getLogger(__name__)

if settings.sendgrid_api_key is not None:
    # Imported in a worker's main process, so the pool processes it forks start with it:
    # make_sender imports it on first use, which cost each pool process ~0.3 s of CPU
    # (the sendgrid package) inside its first batch.
    import digest.deliver.sendgrid  # noqa: F401


@lru_cache(maxsize=1)
def _store() -> Store:
    return Store.from_url(settings.redis_url or settings.broker_url, settings.redis_prefix)


@lru_cache(maxsize=1)
def _sender() -> Sender:
    return make_sender(settings)


_LIMITS = queues.time_limits(settings)


def limits(name: str) -> dict[str, int]:
    soft, hard = _LIMITS[name]
    return {"soft_time_limit": soft, "time_limit": hard}


@app.task(name="digest.collect_all", **limits("digest.collect_all"))
def collect_all() -> int:
    """Beat entry: one collection task per active feed that is due, so one slow feed holds up nothing."""
    feeds = due_feeds(_store())
    for feed in feeds:
        collect.delay(feed.id)
    return len(feeds)


_COLLECT_SOFT, _COLLECT_HARD = _LIMITS["digest.collect"]  # see queues.collect_time_limits
# A collection waits this long in its worker for a slot of its feed's host (politeness:
# PER_HOST_CONCURRENCY, PER_HOST_DELAY), then goes back to the queue for when the host
# said, at most MAX_DEFERRALS times (the next beat run tries again anyway).
HOST_WAIT = 10.0
MAX_DEFERRALS = 30


# acks_on_failure, acks_on_timeout: a collection that fails or hits its time limit is
# acknowledged, not redelivered (the app default for send batches is the other
# way): the next beat run collects the feed again anyway, and redelivering a feed
# that always times out would only keep a worker busy with it.
@app.task(name="digest.collect", **limits("digest.collect"), acks_on_failure=True, acks_on_timeout=True,
          acks_on_failure_or_timeout=True)
def collect(feed_id: str, deferrals: int = 0) -> dict[str, object]:
    try:
        result = collect_feed(_store(), settings, feed_id, host_wait=HOST_WAIT)
    except SoftTimeLimitExceeded:
        log.warning("feed %s: collection stopped after %d s (soft time limit)", feed_id, _COLLECT_SOFT)
        return {"feed": feed_id, "new": 0, "error": f"collection took longer than {_COLLECT_SOFT} s"}
    if result.deferred is not None and deferrals < MAX_DEFERRALS:
        collect.apply_async((feed_id, deferrals + 1), countdown=queues.countdown(settings, result.deferred))
    return {"feed": feed_id, "new": result.new, "error": result.error, "deferred": result.deferred}


@app.task(name="digest.send_issue", **limits("digest.send_issue"))
def send_issue(list_slug: str) -> str:
    plan = prepare_issue(_store(), settings, list_slug)
    enqueue_batches(plan.issue_id)
    return plan.issue_id


@app.task(name="digest.tick", ignore_result=True, **limits("digest.tick"))
def tick() -> list[str]:
    """Beat entry (every SCHEDULE_TICK_SECONDS): start the issues that are due (digest/dispatch.py),
    and settle the sends under way (a dead sender's batch shows as unconfirmed; finished issues are done)."""
    settle_sends(_store())
    return dispatch.tick(_store(), settings, datetime.now(timezone.utc), lambda lst, slot: start_slot.delay(lst, slot))


@app.task(name="digest.start_slot", **limits("digest.start_slot"))
def start_slot(list_slug: str, slot: str) -> str:
    """A due slot's issue: skipped, waiting for approval, or planned and its batches queued."""
    started = dispatch.start_slot(_store(), settings, list_slug, slot, datetime.now(timezone.utc))
    if started.state == dispatch.SENDING and started.issue_id:
        enqueue_batches(started.issue_id)
    return started.state


def enqueue_batches(issue_id: str) -> int:
    """Queue every batch that is still open. Safe to repeat: claims decide who sends."""
    batches = Ledger(_store()).batch_ids(issue_id, ("pending", "retry"))
    _queue_sends(issue_id, batches)
    return len(batches)


def _queue_sends(issue_id: str, batch_ids: list[str]) -> None:
    """The send tasks for these batches, SEND_GROUP to a task, on one producer."""
    with app.producer_pool.acquire(block=True) as producer:
        for name, args in queues.send_messages(issue_id, batch_ids):
            app.send_task(name, args=args, producer=producer)


@app.task(name="digest.send_batches", **limits("digest.send_batches"))
def send_batches_task(issue_id: str, batch_ids: list[str]) -> list[str]:
    """Several batches of one issue, one after the other (queues.SEND_GROUP says why).

    A batch to try again later gets a task of its own, counting this attempt; the
    batches not started within SEND_GROUP_SECONDS, or when the soft time limit came,
    are queued again. After a halt the rest wait for `digest send resume`, as they
    would have anyway (a halted issue's claims refuse them)."""
    started = time.monotonic()
    outcomes: list[str] = []
    for n, batch_id in enumerate(batch_ids):
        if n and time.monotonic() - started > queues.SEND_GROUP_SECONDS:
            _queue_sends(issue_id, batch_ids[n:])
            break
        try:
            outcomes.append(send_batch(_store(), settings, _sender(), issue_id, batch_id, 1))
        except RetryLater as wait:
            send_batch_task.apply_async((issue_id, batch_id), {"earlier_attempts": 1},
                                        countdown=queues.countdown(settings, wait.delay))
            outcomes.append("retry")
        except SoftTimeLimitExceeded:
            log.error("issue %s batch %s: stopped after %d s (soft time limit)", issue_id, batch_id,
                      _LIMITS["digest.send_batches"][0])
            _queue_sends(issue_id, batch_ids[n:])
            break
        except HaltSend as halt:
            log.error("issue %s halted: %s", issue_id, halt)
            outcomes.append("halted")
            break
    return outcomes


@app.task(name="digest.send_batch", bind=True, max_retries=None, **limits("digest.send_batch"))
def send_batch_task(self, issue_id: str, batch_id: str, earlier_attempts: int = 0) -> str:  # type: ignore[no-untyped-def]
    """One batch; `earlier_attempts`: made by a send_batches task before this one."""
    attempt = self.request.retries + 1 + earlier_attempts
    try:
        outcome = send_batch(_store(), settings, _sender(), issue_id, batch_id, attempt)
    except RetryLater as wait:
        raise self.retry(countdown=queues.countdown(settings, wait.delay), exc=None) from None
    except SoftTimeLimitExceeded:
        # Queued again, as a crash's redelivery would be: the new claim sends the batch if
        # it was still waiting (SEND_RATE), or marks it unconfirmed if its request was out.
        log.error("issue %s batch %s: stopped after %d s (soft time limit)", issue_id, batch_id,
                  _LIMITS["digest.send_batch"][0])
        raise self.retry(countdown=1, exc=None) from None
    except HaltSend as halt:
        log.error("issue %s halted: %s", issue_id, halt)
        return "halted"
    return outcome


# -- SendGrid's Event Webhook -------------------------------------------------------


@app.task(name="digest.apply_events", **limits("digest.apply_events"))
def apply_events_task(body: str) -> dict[str, int]:
    """A batch the web process verified (digest.web.webhooks); digest.events applies it once."""
    from digest.events import apply_events

    return apply_events(_store(), settings, body)
