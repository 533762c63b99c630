"""Collection benchmark: N feeds of 50 items from a loopback server, through `collect_all`.

    python bench/collect.py [--feeds 1000] [--items 50] [--compare 250]
    (or: python3 dev.py bench collect ...)

A server process serves N generated RSS 2.0 feeds (each item a whole article of
about 1,000 characters of HTML, so no article page is fetched) over HTTP/1.1
keep-alive, each with an ETag. A collector process adds the N feeds to a real
Redis (REDIS_URL, or one started here) and runs `digest.collect.collector.collect_all`,
the function `digest collect` calls, twice: a first pass that stores every item
and a second that gets a 304 for every feed. It reports each pass's wall time,
feeds per second and its own peak resident memory (VmHWM). The same is run with
`--compare` feeds first, to show the peak does not grow with the number of feeds.

The floor, measured in this run: `feedparser.parse` alone on the same N bodies,
one after the other in one process (no HTTP, no cleaning, no storing), timed
just before and just after the collection (the mean is used: other work on a
shared machine slows both). CPU time is shown beside wall time for both.

All the feeds are on one host (127.0.0.1), so the per-host politeness limits are
set out of the way (PER_HOST_DELAY=0, PER_HOST_CONCURRENCY=64); the Redis slot
bookkeeping still runs for every fetch. COLLECT_PROCESSES is left at its default
(one process per CPU for 100 feeds or more), and the peak memory reported is
that of the largest collecting process. The last line is

    collect: first X s, floor F s, ratio R, second Y s, peak M MB
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from digest.redis_server import ensure_redis  # noqa: E402
from digest.store import Store  # noqa: E402

WORDS = ("launch orbit rocket market rates inflation climate summer heat river city council school "
         "vote budget energy wind solar grid storm coast harbour museum library festival league").split()


def feed_body(n: int, items: int) -> bytes:
    """Feed `n`, the same bytes in the server, the floor and every run."""
    base = datetime(2026, 11, 1, tzinfo=timezone.utc)
    out = [f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Bench feed {n}</title>'
           f"<link>https://feed{n}.example/</link><description>The news of place {n}</description>"]
    for i in range(items):
        words = [WORDS[(n * 7 + i * 3 + k) % len(WORDS)] for k in range(40)]
        para = " ".join(words).capitalize()
        out.append(
            f"<item><title>Story {i} of feed {n}: the {words[0]} and the {words[1]} in the news</title>"
            f"<link>https://feed{n}.example/{2026}/{i}/story-{i}?utm_source=rss</link><guid>feed{n}-{i}</guid>"
            f"<pubDate>{format_datetime(base + timedelta(hours=i))}</pubDate><category>{words[2]}</category>"
            f"<description><![CDATA[<p><strong>Story {i}</strong> from place {n}. {para}.</p>"
            f"<p>{para}, said the mayor of place {n} on day {i}, and the council agreed.</p>"
            f'<p><img src="https://feed{n}.example/img/{i}.jpg" alt="" width="600" height="400"> '
            f'More on <a href="https://feed{n}.example/topics/{words[3]}">{words[3]}</a> and on '
            f'<a href="https://feed{n}.example/topics/{words[4]}">{words[4]}</a>.</p>]]></description></item>')
    out.append("</channel></rss>")
    return "".join(out).encode()


def peak_mb() -> float:
    """The largest peak resident memory of this process and of the worker processes it has waited for."""
    with open("/proc/self/status") as f:
        own = next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))
    return max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def cpu_seconds() -> float:
    """CPU time (user and system) of this process and of the worker processes it has waited for."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# -- the server process ---------------------------------------------------------------------


def serve(feeds: int, items: int) -> None:
    """Print the port, then serve until killed."""
    bodies = {f"/feed/{n}.xml": feed_body(n, items) for n in range(feeds)}
    etags = {path: '"' + hashlib.sha1(body).hexdigest()[:16] + '"' for path, body in bodies.items()}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = bodies.get(self.path)
            if body is None:
                self.send_error(404)
                return
            if self.headers.get("If-None-Match") == etags[self.path]:
                self.send_response(304)
                self.send_header("ETag", etags[self.path])
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etags[self.path])
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.request_queue_size = 128
    print(httpd.server_address[1], flush=True)
    httpd.serve_forever()


# -- the collector process --------------------------------------------------------------------


def collect(base: str, feeds: int, redis_url: str, prefix: str, threads: int) -> None:
    """Add the feeds, collect twice; print one JSON line."""
    from digest.collect.collector import collect_all
    from digest.config import LOOPBACK_NETWORKS, load_settings
    from digest.models import Feed

    settings = load_settings(redis_url=redis_url, redis_prefix=prefix, fetch_allow_networks=LOOPBACK_NETWORKS,
                             per_host_delay=0.0, per_host_concurrency=64, collect_threads=threads)
    store = Store.from_url(redis_url, prefix)
    for n in range(feeds):
        store.add_feed(Feed(id=f"bench-{n:05d}", url=f"{base}/feed/{n}.xml"))
    report: dict[str, object] = {}
    for name in ("first", "second"):
        cpu, started = cpu_seconds(), time.perf_counter()
        results = collect_all(store, settings)
        report[name] = time.perf_counter() - started
        report[f"{name}_cpu"] = cpu_seconds() - cpu
        report[f"{name}_counts"] = {
            "feeds": len(results), "new": sum(r.new for r in results),
            "not_modified": sum(r.not_modified for r in results),
            "errors": sum(1 for r in results if r.error), "full_text": sum(r.full_text for r in results),
        }
        errors = [r.error for r in results if r.error]
        if errors:
            report[f"{name}_error"] = errors[0]
    report["peak_mb"] = peak_mb()
    print(json.dumps(report))


# -- the benchmark ----------------------------------------------------------------------------


def floor(feeds: int, items: int) -> tuple[float, float]:
    """Wall and CPU seconds of feedparser alone on the N bodies."""
    import feedparser

    bodies = [feed_body(n, items) for n in range(feeds)]
    cpu, started = time.process_time(), time.perf_counter()
    for body in bodies:
        feedparser.parse(body)
    return time.perf_counter() - started, time.process_time() - cpu


def run(feeds: int, items: int, redis_url: str, threads: int) -> dict:
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(feeds), str(items)],
                              stdout=subprocess.PIPE, text=True)
    prefix = f"benchcollect{os.getpid()}x{feeds}"
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        done = subprocess.run([sys.executable, __file__, "--collect", f"http://127.0.0.1:{port}", str(feeds),
                               redis_url, prefix, str(threads)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        server.kill()
        server.wait()
        store = Store.from_url(redis_url, prefix)
        keys = list(store.r.scan_iter(f"{prefix}:*", count=5000))
        for i in range(0, len(keys), 5000):
            store.r.delete(*keys[i:i + 5000])


def show(feeds: int, items: int, result: dict) -> None:
    for name in ("first", "second"):
        counts = result[f"{name}_counts"]
        print(f"  {name:6s} pass: {result[name]:6.1f} s, {feeds / result[name]:6.0f} feeds/s, "
              f"{result[name + '_cpu']:6.1f} s of CPU; {counts}"
              + (f"; first error: {result[name + '_error']}" if name + "_error" in result else ""))
    expected_new = feeds * items
    got = result["first_counts"]["new"], result["second_counts"]["not_modified"]
    print(f"  checks: {got[0]:,} of {expected_new:,} items stored, {got[1]:,} of {feeds:,} feeds not modified: "
          + ("ok" if got == (expected_new, feeds) else "MISMATCH"))
    print(f"  peak memory of the largest collecting process: {result['peak_mb']:.0f} MB", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--compare", type=int, default=250, help="also run this many feeds (0: don't), for memory")
    parser.add_argument("--threads", type=int, default=None, help="COLLECT_THREADS (default: the setting's)")
    parser.add_argument("--serve", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--collect", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return 0
    if args.collect:
        base, feeds, redis_url, prefix, threads = args.collect
        collect(base, int(feeds), redis_url, prefix, int(threads))
        return 0

    from digest.config import Settings

    threads = args.threads or Settings.model_fields["collect_threads"].default
    tmp = Path(tempfile.mkdtemp(prefix="digest-bench-collect-"))
    redis_url, redis = ensure_redis(os.environ.get("REDIS_URL"), tmp)
    try:
        print(f"{os.cpu_count()} CPUs; {threads} collecting threads; {args.items} items a feed", flush=True)
        peaks = {}
        for feeds in ([args.compare] if 0 < args.compare < args.feeds else []) + [args.feeds]:
            if feeds == args.feeds:
                before = floor(args.feeds, args.items)  # the floor on both sides of the run: the machine is shared
            print(f"{feeds:,} feeds:", flush=True)
            result = run(feeds, args.items, redis_url, threads)
            show(feeds, args.items, result)
            peaks[feeds] = result["peak_mb"]
        after = floor(args.feeds, args.items)
        took, took_cpu = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
        print(f"floor: feedparser alone on the same {args.feeds:,} bodies, one process: {before[0]:.1f} s before "
              f"the run and {after[0]:.1f} s after, {took_cpu:.1f} s of CPU ({args.feeds / took:.0f} feeds/s)")
        print(f"first pass over the floor: {result['first'] / took:.2f} in wall time, "
              f"{result['first_cpu'] / took_cpu:.2f} in CPU time (on {os.cpu_count()} CPUs)")
        if len(peaks) > 1:
            small, big = sorted(peaks)
            print(f"peak memory: {peaks[small]:.0f} MB at {small:,} feeds, {peaks[big]:.0f} MB at {big:,} "
                  f"({peaks[big] / peaks[small]:.2f}x for {big / small:.0f}x the feeds)")
        print(f"collect: first {result['first']:.1f} s, floor {took:.1f} s, ratio {result['first'] / took:.2f}, "
              f"second {result['second']:.1f} s, peak {result['peak_mb']:.0f} MB")
        return 0
    finally:
        if redis is not None:
            redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
