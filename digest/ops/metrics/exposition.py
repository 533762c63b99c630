"""/metrics: what every process recorded in Redis, the broker's queue depths and the
heartbeats, as one Prometheus collector read at scrape time (digest/web/machine.py serves it).

A scrape is one pipelined round trip to the store (three HGETALLs), one to read the
heartbeats, and one connection to the broker for the queue depths (Redis: LLEN of
each queue's lists; RabbitMQ: a passive queue declare), at most once per
PROBE_CACHE_SECONDS per process (the scrape is open to floods). A broker that does
not answer leaves the depths out and sets digest_broker_up to 0; the rest is served.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator

import redis
from kombu import Connection
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from digest.config import Settings
from digest.ops import metrics as m
from digest.ops import queues
from digest.ops.health import CHECK_TIMEOUT, WORKER_FRESH_SECONDS, RecentAnswer, broker_transport_options
from digest.store.metrics import Labels, MetricsStore

log = logging.getLogger(__name__)

# name -> (kind, help, label names). Every family is exported, with no sample until
# something recorded it, so dashboards and alerts find every name from the start.
FAMILIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    m.ARTICLES: ("counter", "Articles stored (new) or met again (duplicate) by feed collections.", ("outcome",)),
    m.COLLECTIONS: ("counter", "Feed collections that fetched, by result (ok, not_modified, error).", ("result",)),
    m.FEED_ERRORS: ("counter", "Failed feed collections, by kind of error.", ("kind",)),
    m.LAST_COLLECT: ("gauge", "Unix time of the last feed collection that went well.", ()),
    m.HANDED_OVER: ("counter", "Recipients handed to the sender (SendGrid: accepted with 202), by list.",
                    ("list", "sender")),
    m.SENDGRID_RESPONSES: ("counter", "SendGrid /mail/send answers, by HTTP status (timeout: none came; "
                                      "unreachable: the request did not go out).", ("status",)),
    m.BATCH_SECONDS: ("histogram", "Seconds one batch's request to the sender took.", ("sender",)),
    m.LAST_SEND: ("gauge", "Unix time of the last batch a list handed over.", ("list",)),
    m.WEBHOOK_EVENTS: ("counter", "SendGrid Event Webhook events received, by type.", ("type",)),
}


class DigestCollector(Collector):
    def __init__(self, settings: Settings, client: redis.Redis) -> None:
        self.settings = settings
        self.store = MetricsStore(client, settings.redis_prefix)
        self._depths = RecentAnswer(self._read_depths)

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        try:
            values = self.store.metric_values()
        except (redis.RedisError, OSError) as exc:
            log.warning("metrics: Redis does not answer: %s", exc)
            yield _gauge("digest_store_up", "1 when the store's Redis answered this scrape.", 0.0)
            return
        yield _gauge("digest_store_up", "1 when the store's Redis answered this scrape.", 1.0)
        for name, (kind, doc, label_names) in FAMILIES.items():
            if kind == "counter":
                family: Metric = CounterMetricFamily(name, doc, labels=label_names)
                for (n, pairs), value in sorted(values.counters.items()):
                    if n == name and _names(pairs) == label_names:
                        family.add_metric(_values(pairs), value)  # type: ignore[attr-defined]
            elif kind == "gauge":
                family = GaugeMetricFamily(name, doc, labels=label_names)
                for (n, pairs), value in sorted(values.gauges.items()):
                    if n == name and _names(pairs) == label_names:
                        family.add_metric(_values(pairs), value)  # type: ignore[attr-defined]
            else:
                family = HistogramMetricFamily(name, doc, labels=label_names)
                for (n, pairs), h in sorted(values.histograms.items()):
                    if n == name and _names(pairs) == label_names:
                        running, buckets = 0, []
                        for bound in sorted(set(h.buckets) | {float("inf")}):
                            running += h.buckets.get(bound, 0)
                            buckets.append(("+Inf" if bound == float("inf") else f"{bound:g}", running))
                        family.add_metric(_values(pairs), buckets, h.total)  # type: ignore[attr-defined]
            yield family
        yield from self._heartbeats(now)
        yield from self._queue_depths()

    def _heartbeats(self, now: float) -> Iterator[Metric]:
        try:
            beats = self.store.worker_heartbeats(now)
            ticked = self.store.beat_times().get("ticked")
        except (redis.RedisError, OSError):
            return
        seen = GaugeMetricFamily(m.WORKERS_SEEN, f"Workers that said in the last {WORKER_FRESH_SECONDS:g} s "
                                                 "that they consume the queue.", labels=("queue",))
        for queue in sorted(set(beats) | set(queues.ALL_QUEUES)):
            seen.add_metric((queue,), sum(1 for t in beats.get(queue, []) if now - t <= WORKER_FRESH_SECONDS))
        yield seen
        tick = GaugeMetricFamily(m.LAST_TICK, "Unix time a worker last ran beat's digest.tick.")
        if ticked is not None:
            tick.add_metric((), ticked)
        yield tick

    def _read_depths(self) -> dict[str, int] | None:
        """The queues' depths; None when the broker does not answer."""
        try:
            return queue_depths(self.settings, queues.ALL_QUEUES)
        except Exception as exc:  # kombu's, the transport's and socket errors alike
            log.warning("metrics: the broker does not answer: %s", exc)
            return None

    def _queue_depths(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(m.QUEUE_DEPTH, "Tasks waiting in the broker, by queue.", labels=("queue",))
        depths = self._depths()
        for queue, n in (depths or {}).items():
            depth.add_metric((queue,), n)
        yield depth
        yield _gauge("digest_broker_up", "1 when the broker answered its latest probe (at most PROBE_CACHE_SECONDS "
                     "old).", 0.0 if depths is None else 1.0)


def queue_depths(settings: Settings, names: Iterable[str]) -> dict[str, int]:
    """Messages waiting in each queue; a queue the broker does not know holds none."""
    depths = {}
    # AMQP: a passive declare, which never creates a queue (Celery declares them with its own
    # arguments). Redis: a plain one, which creates nothing either and reads the lists' lengths;
    # kombu's passive check there forgets global_keyprefix and finds no queue.
    passive = not queues.is_redis_broker(settings)
    with Connection(settings.broker_url, connect_timeout=CHECK_TIMEOUT,
                    transport_options=broker_transport_options(settings)) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=CHECK_TIMEOUT)
        channel = conn.channel()
        try:
            for name in names:
                try:
                    depths[name] = int(channel.queue_declare(queue=name, passive=passive).message_count)
                except conn.channel_errors:
                    depths[name] = 0  # never declared, or (Redis) empty: no list exists
                    channel.close()  # AMQP closes a channel after a failed passive declare
                    channel = conn.channel()
        finally:
            channel.close()
    return depths


def _names(pairs: Labels) -> tuple[str, ...]:
    return tuple(k for k, _ in pairs)


def _values(pairs: Labels) -> tuple[str, ...]:
    return tuple(v for _, v in pairs)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def metric_names() -> set[str]:
    """Every family this collector can export (for tests and the dashboard check)."""
    return set(FAMILIES) | {m.QUEUE_DEPTH, m.WORKERS_SEEN, m.LAST_TICK, "digest_store_up", "digest_broker_up"}
