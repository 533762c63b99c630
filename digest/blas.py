"""One BLAS thread per process, set once, for the numeric work of collecting and grouping.

digest runs a process per CPU (Celery's prefork pool, gunicorn's workers), and its
numpy work is many small products: a language guess per article, L-BFGS steps over
vectors of a few hundred thousand floats, sparse-by-dense cosines. OpenBLAS hands
each of them to a thread per CPU, and the hand-off costs more than the product:
self-training 2,000 MasakhaNEWS articles took 17.4 s of CPU with OpenBLAS's
threads and 2.6 s with one, on a 2-core machine already busy (bench/topics.py).
The sentence embedding sets its own limit around each call (topics/embedding.py).
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_set = False


def one_thread() -> None:
    """Limit BLAS to one thread in this process (a no-op after the first call)."""
    global _set
    if _set:
        return
    with _lock:
        if not _set:
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=1, user_api="blas")
            _set = True
