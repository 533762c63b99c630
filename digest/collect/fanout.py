"""Running many fetches at once: threads in a process with a queue per host, and shards for processes.

`run_by_host` hands items to a thread pool as threads and hosts are free: at
most `per_host` items of one host run here at once, and an item whose result
says it was `deferred` (its host had no free slot, digest.collect.politeness)
goes back to the front of its host's queue until then, while other hosts' items
go ahead. So a slow or busy host holds up only its own items.

`deal` splits items into shards for processes, each host's items spread evenly
over them (the per-host limits hold across processes anyway: they live in Redis).

`cpu_turn` is held while parsing and cleaning: one thread of a process at a time
does that CPU work, while the others wait on their sockets. Threads that all run
Python at once only take turns at the GIL, and pay for every turn: collecting the
bench's feeds (bench/collect.py) with 8 threads in one process took about 100 ms
of CPU a feed, against about 70 ms with the parsing and cleaning taken in turns.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")


class Outcome(Protocol):
    deferred: float | None  # seconds until the item may be tried again; None: done


R = TypeVar("R", bound=Outcome)

_cpu = threading.RLock()  # re-entrant: code that holds it may call code that takes it


@contextmanager
def cpu_turn() -> Iterator[None]:
    """Parse or clean in this block, one thread of the process at a time; never fetch in it."""
    with _cpu:
        yield


def run_by_host(
    items: Sequence[T], host: Callable[[T], str], work: Callable[[T], R | None], *, threads: int, per_host: int,
) -> list[R]:
    """`work` on every item, `threads` at a time, at most `per_host` of one host at once; results in item order
    (an item whose work returned None has none)."""
    with ThreadPoolExecutor(threads, thread_name_prefix="collect") as pool:
        return _HostQueues(items, host, work, pool, threads, per_host).run()


class _HostQueues(Generic[T, R]):
    def __init__(self, items: Sequence[T], host: Callable[[T], str], work: Callable[[T], R | None],
                 pool: ThreadPoolExecutor, threads: int, per_host: int) -> None:
        self.items, self.work, self.pool, self.threads, self.per_host = items, work, pool, threads, per_host
        self.queues: dict[str, deque[int]] = {}
        for i, item in enumerate(items):
            self.queues.setdefault(host(item), deque()).append(i)
        self.ready = [(0.0, name) for name in self.queues]  # (when it may be asked, host): a heap
        self.running: dict[Future[R | None], tuple[str, int]] = {}
        self.busy = dict.fromkeys(self.queues, 0)  # items running per host, here
        self.results: list[R | None] = [None] * len(items)

    def run(self) -> list[R]:
        while self.ready or self.running:
            self._start_what_can_start()
            wait_for = None
            if self.ready and len(self.running) < self.threads:
                wait_for = max(0.0, self.ready[0][0] - time.monotonic())
            if not self.running:
                time.sleep(wait_for or 0.0)  # every host with items left asked us to wait
                continue
            done, _ = wait(self.running, timeout=wait_for, return_when=FIRST_COMPLETED)
            for future in done:
                self._finish(future)
        return [r for r in self.results if r is not None]

    def _start_what_can_start(self) -> None:
        now = time.monotonic()
        while self.ready and self.ready[0][0] <= now and len(self.running) < self.threads:
            _, name = heapq.heappop(self.ready)
            if not self.queues[name] or self.busy[name] >= self.per_host:
                continue  # a stale entry: the host is pushed again when one of its items ends
            i = self.queues[name].popleft()
            self.running[self.pool.submit(self.work, self.items[i])] = (name, i)
            self.busy[name] += 1
            if self.queues[name] and self.busy[name] < self.per_host:
                heapq.heappush(self.ready, (now, name))

    def _finish(self, future: Future[R | None]) -> None:
        name, i = self.running.pop(future)
        self.busy[name] -= 1
        result = future.result()  # work reports its failures in its result; anything else is a bug: raise
        delay = 0.0
        if result is not None and result.deferred is not None:
            self.queues[name].appendleft(i)
            delay = result.deferred
        else:
            self.results[i] = result
        if self.queues[name]:
            heapq.heappush(self.ready, (time.monotonic() + delay, name))


def deal(items: Sequence[T], host: Callable[[T], str], shards: int) -> list[list[T]]:
    """`items` in `shards` lists of (nearly) equal length, each host's items spread over all of them."""
    ordered = sorted(range(len(items)), key=lambda i: (host(items[i]), i))
    hands: list[list[T]] = [[] for _ in range(max(1, shards))]
    for turn, i in enumerate(ordered):
        hands[turn % len(hands)].append(items[i])
    return [hand for hand in hands if hand]
