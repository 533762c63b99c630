"""What digest counts, and the one-line calls that count it (each one pipelined round trip).

Every process records into Redis (digest/store/metrics.py); the web process's
/metrics reads it back (digest/ops/metrics/exposition.py). The names, with their labels:

    digest_articles_collected_total{outcome}       new or duplicate articles a collection stored or met
    digest_feed_collections_total{result}          ok, not_modified, error
    digest_feed_errors_total{kind}                 FEED_ERROR_KINDS
    digest_last_collect_success_timestamp_seconds  the last collection of a feed that went well
    digest_emails_handed_over_total{list,sender}   recipients a sender accepted (SendGrid: its 202)
    digest_sendgrid_responses_total{status}        202, 4xx/5xx codes, "timeout" (no answer), "unreachable"
    digest_batch_send_seconds{sender}              one batch's request, histogram (BATCH_SECONDS_BUCKETS)
    digest_last_send_success_timestamp_seconds{list}
    digest_webhook_events_total{type}              SendGrid events received, by event type
    digest_queue_depth{queue}                      tasks waiting in the broker (read at scrape time)
    digest_workers_seen{queue}                     workers whose heartbeat is recent (read at scrape time)
    digest_beat_last_tick_timestamp_seconds        when a worker last ran beat's digest.tick

Labels are bounded: list slugs, statuses and fixed kinds, never an address or an
article, issue or batch id (those are in the logs).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

from digest.errors import FeedError, FetchError, TransportError
from digest.store.metrics import MetricsStore, Sample, labels

log = logging.getLogger(__name__)

ARTICLES = "digest_articles_collected"
COLLECTIONS = "digest_feed_collections"
FEED_ERRORS = "digest_feed_errors"
LAST_COLLECT = "digest_last_collect_success_timestamp_seconds"
HANDED_OVER = "digest_emails_handed_over"
SENDGRID_RESPONSES = "digest_sendgrid_responses"
BATCH_SECONDS = "digest_batch_send_seconds"
LAST_SEND = "digest_last_send_success_timestamp_seconds"
WEBHOOK_EVENTS = "digest_webhook_events"
QUEUE_DEPTH = "digest_queue_depth"
WORKERS_SEEN = "digest_workers_seen"
LAST_TICK = "digest_beat_last_tick_timestamp_seconds"

# A 1,000-recipient request takes ~0.3-2 s at SendGrid; 30 s is SENDGRID_TIMEOUT's default.
BATCH_SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
FEED_ERROR_KINDS = ("http_4xx", "http_5xx", "gone", "rate_limited", "timeout", "too_large", "refused",
                    "redirects", "network", "parse", "unexpected")
# SendGrid's event types (its Event Webhook reference); anything else counts as "other".
WEBHOOK_EVENT_TYPES = ("processed", "deferred", "delivered", "open", "click", "bounce", "blocked", "dropped",
                       "spamreport", "unsubscribe", "group_unsubscribe", "group_resubscribe")


def feed_error_kind(error: Exception) -> str:
    """One of FEED_ERROR_KINDS for a collection's error (digest/collect/fetch.py words them)."""
    text = str(error)
    status = getattr(error, "status", None)
    if isinstance(error, FetchError) and status:
        if status == 410:
            return "gone"
        if status == 429:
            return "rate_limited"
        return "http_5xx" if status >= 500 else "http_4xx"
    if "unexpected error" in text or not isinstance(error, FeedError):
        return "unexpected"
    if not isinstance(error, FetchError):
        return "parse"  # fetched, but not a feed we could read
    for marker, kind in (("timed out", "timeout"), ("(timeout)", "timeout"), ("-byte cap", "too_large"),
                         ("redirects", "redirects"), ("not a public address", "refused"),
                         ("are not fetched", "refused"), ("only http and https", "refused")):
        if marker in text:
            return kind
    return "network"


def record_collect(sink: MetricsStore, result: Any, error: Exception | None, now: float | None = None) -> None:
    """A feed's collection (digest.collect.collector.collect_feed): its articles and how it went.
    Skipped and deferred collections fetched nothing and count nothing."""
    if error is None and (result.skipped or result.deferred is not None):
        return
    sample = Sample()
    if error is not None:
        sample.counts += [(COLLECTIONS, labels(result="error"), 1),
                          (FEED_ERRORS, labels(kind=feed_error_kind(error)), 1)]
    else:
        sample.counts += [(COLLECTIONS, labels(result="not_modified" if result.not_modified else "ok"), 1),
                          (ARTICLES, labels(outcome="new"), result.new),
                          (ARTICLES, labels(outcome="duplicate"), result.duplicates)]
        sample.gauges.append((LAST_COLLECT, (), now or time.time()))
    _record(sink, sample)


@contextmanager
def observe_send(sink: MetricsStore, sender: str, list_slug: str, recipients: int) -> Iterator[None]:
    """Around one batch's request (digest.deliver.send.send_batch): its latency, SendGrid's answer,
    and on success the recipients handed over and the list's last good send. Re-raises."""
    started = time.monotonic()
    status = "error"  # an exception that is no TransportError: a bug of ours, not SendGrid's answer
    try:
        yield
        status = "202"
    except TransportError as exc:
        status = str(exc.status) if exc.status else ("timeout" if exc.ambiguous else "unreachable")
        raise
    finally:
        sample = Sample(observations=[(BATCH_SECONDS, labels(sender=sender), time.monotonic() - started,
                                       BATCH_SECONDS_BUCKETS)])
        if sender == "sendgrid":
            sample.counts.append((SENDGRID_RESPONSES, labels(status=status), 1))
        if status == "202":
            sample.counts.append((HANDED_OVER, labels(list=list_slug, sender=sender), recipients))
            sample.gauges.append((LAST_SEND, labels(list=list_slug), time.time()))
        _record(sink, sample)


def record_webhook_events(sink: MetricsStore, items: Any) -> None:
    """SendGrid events received in one webhook batch (digest.events.apply_events), by type."""
    if not isinstance(items, list):
        return
    counts: dict[str, int] = {}
    for item in items:
        kind = item.get("event") if isinstance(item, dict) else None
        kind = kind if kind in WEBHOOK_EVENT_TYPES else "other"
        counts[kind] = counts.get(kind, 0) + 1
    _record(sink, Sample(counts=[(WEBHOOK_EVENTS, labels(type=k), n) for k, n in sorted(counts.items())]))


def _record(sink: MetricsStore, sample: Sample) -> None:
    """Counting never fails the work it counts: a batch SendGrid accepted must still be
    recorded in the ledger when the metrics write does not go through."""
    try:
        sink.record_sample(sample)
    except (redis.RedisError, OSError) as exc:
        log.warning("metrics not recorded: %s", exc)
