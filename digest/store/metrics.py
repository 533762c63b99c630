"""Counters, histograms and gauges that every process writes and the web process reads
(digest/ops/metrics/), and the heartbeats that /readyz looks at (digest/ops/health.py).

    P:metrics:counters   hash  "name|k=v,k=v" -> integer (HINCRBY)
    P:metrics:hist       hash  "name|k=v|le=0.5" -> observations in that bucket (not cumulative),
                               "name|k=v|sum" -> float, "name|k=v|count" -> integer
    P:metrics:gauges     hash  "name|k=v" -> float (last write wins: timestamps of last successes)
    P:obs:heartbeats     hash  "queue|worker node" -> Unix time the worker last said it consumes the queue
    P:obs:beat           hash  "published" / "ticked" -> Unix time beat last sent digest.tick / a worker ran it

Why Redis and not prometheus-client's multiprocess mode: workers run on other
machines than the web process, and a directory of mmap files is per machine. Why
hashes: a scrape is three HGETALLs, and the number of fields is bounded by the
label values, which are list slugs, statuses and fixed kinds (no address, no id).
One event costs one pipelined round trip, whatever it records.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from digest.store.base import StoreBase

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs
# What a label value may hold; anything else becomes "_" (a slug, a status, a kind fits).
_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.:-]")
LABEL_VALUE_MAX = 64
# A worker or queue not heard from for this long is forgotten: a queue nobody consumes
# any more (renamed by an operator) stops counting against readiness after a day.
HEARTBEAT_MEMORY = 86400


def labels(**values: object) -> Labels:
    """Label pairs in a stable order, each value reduced to a safe, bounded token."""
    return tuple(sorted((k, _LABEL_VALUE.sub("_", str(v))[:LABEL_VALUE_MAX]) for k, v in values.items()))


def _field(name: str, pairs: Labels) -> str:
    return name + "|" + ",".join(f"{k}={v}" for k, v in pairs)


def _parse_field(text: str) -> tuple[str, Labels, str]:
    """(name, labels, rest) from "name|k=v,k=v|rest"; rest is "" for counters and gauges."""
    name, _, tail = text.partition("|")
    pairs, _, rest = tail.partition("|")
    parsed = tuple(tuple(p.split("=", 1)) for p in pairs.split(",") if "=" in p)
    return name, parsed, rest  # type: ignore[return-value]


@dataclass
class Sample:
    """What one event records: counter increments, histogram observations, gauge values."""

    counts: list[tuple[str, Labels, int]] = field(default_factory=list)
    observations: list[tuple[str, Labels, float, tuple[float, ...]]] = field(default_factory=list)
    gauges: list[tuple[str, Labels, float]] = field(default_factory=list)


@dataclass
class Histogram:
    buckets: dict[float, int] = field(default_factory=dict)  # upper bound -> observations in it (inf too)
    total: float = 0.0
    count: int = 0


@dataclass
class MetricValues:
    counters: dict[tuple[str, Labels], int]
    histograms: dict[tuple[str, Labels], Histogram]
    gauges: dict[tuple[str, Labels], float]


class MetricsStore(StoreBase):
    def record_sample(self, sample: Sample) -> None:
        """Everything one event records, in one pipelined round trip (not a transaction: each
        increment is atomic by itself, and a scrape between two of them is harmless)."""
        counters, hist, gauges = self.key("metrics", "counters"), self.key("metrics", "hist"), \
            self.key("metrics", "gauges")
        pipe = self.r.pipeline(transaction=False)
        for name, pairs, n in sample.counts:
            if n:
                pipe.hincrby(counters, _field(name, pairs), n)
        for name, pairs, value, bounds in sample.observations:
            base = _field(name, pairs)
            le = next((b for b in bounds if value <= b), float("inf"))
            pipe.hincrby(hist, f"{base}|le={le:g}", 1)
            pipe.hincrbyfloat(hist, f"{base}|sum", value)
            pipe.hincrby(hist, f"{base}|count", 1)
        for name, pairs, value in sample.gauges:
            pipe.hset(gauges, _field(name, pairs), repr(float(value)))
        if len(pipe):
            pipe.execute()

    def metric_values(self) -> MetricValues:
        pipe = self.r.pipeline(transaction=False)
        for part in ("counters", "hist", "gauges"):
            pipe.hgetall(self.key("metrics", part))
        raw_counters, raw_hist, raw_gauges = pipe.execute()
        counters: dict[tuple[str, Labels], int] = {}
        for text, value in raw_counters.items():
            name, pairs, _ = _parse_field(text)
            counters[(name, pairs)] = int(value)
        histograms: dict[tuple[str, Labels], Histogram] = {}
        for text, value in raw_hist.items():
            name, pairs, rest = _parse_field(text)
            h = histograms.setdefault((name, pairs), Histogram())
            if rest == "sum":
                h.total = float(value)
            elif rest == "count":
                h.count = int(value)
            elif rest.startswith("le="):
                h.buckets[float(rest[3:])] = int(value)
        gauges: dict[tuple[str, Labels], float] = {}
        for text, value in raw_gauges.items():
            name, pairs, _ = _parse_field(text)
            gauges[(name, pairs)] = float(value)
        return MetricValues(counters, histograms, gauges)

    # -- heartbeats (digest/ops/observe.py writes, digest/ops/health.py reads) --------------------

    def worker_heartbeat(self, node: str, queues: Iterable[str], now: float) -> None:
        fields: Mapping[str, str] = {f"{_LABEL_VALUE.sub('_', q)[:LABEL_VALUE_MAX]}|{node}": repr(now)
                                     for q in queues}
        if fields:
            self.r.hset(self.key("obs", "heartbeats"), mapping=fields)

    def worker_gone(self, node: str) -> None:
        """A worker stopping on purpose: forget it at once rather than after it goes stale."""
        key = self.key("obs", "heartbeats")
        mine = [f for f in self.r.hkeys(key) if f.partition("|")[2] == node]
        if mine:
            self.r.hdel(key, *mine)

    def worker_heartbeats(self, now: float) -> dict[str, list[float]]:
        """queue -> the last heartbeat of each worker that consumed it in the last HEARTBEAT_MEMORY seconds."""
        key = self.key("obs", "heartbeats")
        by_queue: dict[str, list[float]] = {}
        forgotten = []
        for text, value in self.r.hgetall(key).items():
            queue, _, _node = text.partition("|")
            at = float(value)
            if now - at > HEARTBEAT_MEMORY:
                forgotten.append(text)
                continue
            by_queue.setdefault(queue, []).append(at)
        if forgotten:
            self.r.hdel(key, *forgotten)
        return by_queue

    def beat_seen(self, what: str, now: float) -> None:
        self.r.hset(self.key("obs", "beat"), what, repr(now))

    def beat_times(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.r.hgetall(self.key("obs", "beat")).items()}
