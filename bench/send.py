"""Delivery benchmark: one issue to N subscribers through real Celery workers.

    python bench/send.py [--subscribers 1000000] [--workers 2] [--concurrency 2]

Loads N subscribers (random topic choices out of 8 topics) into a list, sends
one issue through real worker processes to a loopback SendGrid sink (bench/sink.py)
and prints wall time, recipients per second, requests, recipients per request,
premailer calls, each worker process's peak memory, duplicates and lost. In the
same run it times the floor: a bare loop that reads the same addresses from
Redis and posts them 1,000 per request on one kept-alive connection, with no
rendering, no tasks, no bookkeeping; and prints digest's time over the floor's.
It also times the same loop through the official sendgrid client, which opens a
connection per request, to show what that client costs on its own.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sendgrid  # noqa: E402

from digest.celery_app import make_celery  # noqa: E402
from digest.config import load_settings  # noqa: E402
from digest.deliver.ledger import Ledger  # noqa: E402
from digest.deliver.send import prepare_issue  # noqa: E402
from digest.models import DigestList, Subscriber, Topic  # noqa: E402
from digest.redis_server import ensure_redis  # noqa: E402
from digest.store import Store  # noqa: E402
from tests.factories import article, file_as  # noqa: E402

TOPICS = ["climate", "space", "markets", "health", "science", "culture", "sport", "politics"]


def load(store: Store, n: int, seed: int = 1) -> None:
    store.add_list(DigestList(slug="bench", name="Bench Weekly", from_email="news@bench.example",
                              description="a benchmark list", postal_address="1 Bench Road, Springfield",
                              topics=[Topic(slug=slug, name=slug.title(), keywords=[slug]) for slug in TOPICS]))
    for i, slug in enumerate(TOPICS):
        made = [article(i * 10 + k, slug) for k in range(5)]
        for a in made:
            store.save_article(a, 86400)
        file_as(store, made, slug, "bench")  # filed as the list would file them, so every topic has a section
    rng = random.Random(seed)

    def rows():  # type: ignore[no-untyped-def]
        for i in range(n):
            # a uniformly random subset of the 8 topics; the empty one is "everything"
            bits = rng.getrandbits(len(TOPICS))
            topics = [t for k, t in enumerate(TOPICS) if bits >> k & 1] or None
            yield Subscriber.model_construct(email=f"reader{i}@bench.example", name=f"Reader {i}",
                                             topics=topics, status="active",
                                             created_at=Subscriber.model_fields["created_at"].default_factory())
    store.add_subscribers("bench", rows(), chunk=5000)


def start_sink(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port_file = tmp / "sink.port"
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "sink.py"), str(port_file)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not port_file.exists() or not port_file.read_text():
        time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port_file.read_text()}"


def sink(url: str, path: str = "/stats") -> dict[str, int]:
    if path == "/reset":
        urllib.request.urlopen(urllib.request.Request(url + path, data=b"", method="POST")).read()
        return {}
    return json.loads(urllib.request.urlopen(url + path).read())


def peak_rss_mb(pgid: int) -> list[float]:
    """VmHWM (peak resident memory) of every process in a process group."""
    peaks = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            pid = int(status.parent.name)
            if os.getpgid(pid) != pgid:
                continue
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        except (OSError, ValueError):
            continue
    return sorted(peaks, reverse=True)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time so far of these processes."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    return total


def group_pids(pgid: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*"):
        try:
            if os.getpgid(int(stat.name)) == pgid:
                pids.append(int(stat.name))
        except (OSError, ValueError):
            continue
    return pids


def floor(store: Store, url: str, official_client: bool = False) -> float:
    """Read the same addresses from Redis, post them 1,000 per request. Nothing else.

    The bare floor posts with http.client on one kept-alive connection; with
    official_client it posts with the sendgrid client digest uses (a new
    connection per request), to show what the client itself costs.
    """
    html = "<p>" + "x" * 60_000 + "</p>"
    client = sendgrid.SendGridAPIClient(api_key="SG.bench", host=url)
    conn = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]))
    headers = {"Authorization": "Bearer SG.bench", "Content-Type": "application/json"}
    started = time.perf_counter()
    for mask in store.masks("bench"):
        key = store.key("list", "bench", "sel", mask)
        for start in range(0, store.r.zcard(key), 1000):
            emails = store.r.zrange(key, start, start + 999)
            body = {
                "personalizations": [{"to": [{"email": e}]} for e in emails],
                "from": {"email": "news@bench.example"}, "subject": "floor",
                "content": [{"type": "text/plain", "value": "x"}, {"type": "text/html", "value": html}],
            }
            if official_client:
                client.send(body)
            else:
                conn.request("POST", "/v3/mail/send", body=json.dumps(body).encode(), headers=headers)
                conn.getresponse().read()
    conn.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)  # two pool processes a core: one computes while one waits
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="digest-bench-"))
    url, _server = ensure_redis(os.environ.get("REDIS_URL"), tmp)
    prefix = f"bench{os.getpid()}"
    sink_proc, sink_url = start_sink(tmp)
    secret = secrets.token_urlsafe(32)
    settings = load_settings(redis_url=url, redis_prefix=prefix, sendgrid_api_key="SG.bench",
                             sendgrid_api_host=sink_url, base_url="https://bench.example", secret_key=secret)
    store = Store.from_url(url, prefix)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        t0 = time.perf_counter()
        load(store, args.subscribers)
        print(f"loaded {args.subscribers:,} subscribers in {time.perf_counter() - t0:.1f} s "
              f"({len(store.masks('bench'))} distinct topic choices)", flush=True)

        env = {**os.environ, "REDIS_URL": url, "REDIS_PREFIX": prefix, "SENDGRID_API_KEY": "SG.bench",
               "SENDGRID_API_HOST": sink_url, "BASE_URL": "https://bench.example", "SECRET_KEY": secret}
        for i in range(args.workers):
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "digest.celery_app", "worker", "-Q", "send",
                 "-c", str(args.concurrency), "-P", "prefork", "-n", f"bench{i}@%h", "--without-gossip",
                 "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING"],
                env=env, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                stderr=open(tmp / f"worker{i}.log", "wb")))
        time.sleep(3)  # let the workers connect before the clock starts

        app = make_celery(settings)
        ledger = Ledger(store)
        worker_pids = [p for w in workers for p in group_pids(w.pid)]
        redis_pids = [_server.process.pid] if _server and _server.process else []
        cpu_before = [cpu_seconds(worker_pids), cpu_seconds([sink_proc.pid]), cpu_seconds(redis_pids)]
        started = time.perf_counter()
        plan = prepare_issue(store, settings, "bench")
        planned = time.perf_counter() - started
        with app.producer_pool.acquire(block=True) as producer:
            for batch in plan.batches:
                app.send_task("digest.send_batch", args=[plan.issue_id, batch], queue="send", producer=producer)
        while not ledger.status(plan.issue_id).finished:
            time.sleep(0.2)
        wall = time.perf_counter() - started
        cpu = [cpu_seconds(p) - b for p, b in zip([worker_pids, [sink_proc.pid], redis_pids], cpu_before, strict=True)]
        status = ledger.status(plan.issue_id)
        got = sink(sink_url)
        peaks = [peak_rss_mb(w.pid) for w in workers]

        sink(sink_url, "/reset")
        floor_wall = floor(store, sink_url)
        floor_got = sink(sink_url)
        sink(sink_url, "/reset")
        client_floor_wall = floor(store, sink_url, official_client=True)

        n = plan.recipients
        print(json.dumps({"states": status.states, "counts": status.counts}))
        print(f"subscribers            {args.subscribers:,} ({plan.no_section:,} with no chosen topic in the issue)")
        print(f"workers                {args.workers} x concurrency {args.concurrency}")
        print(f"wall time              {wall:.2f} s (planning, rendering and freezing: {planned:.2f} s)")
        print(f"recipients per second  {n / wall:,.0f}")
        print(f"requests               {got['requests']:,}")
        print(f"recipients per request {got['recipients'] / max(1, got['requests']):.1f}")
        print(f"premailer calls        {ledger.meta(plan.issue_id).get('premailer_calls', '?')}")
        for i, p in enumerate(peaks):
            print(f"worker {i} peak memory  " + ", ".join(f"{mb:.0f} MB" for mb in p) + "  (main, pool children)")
        print(f"cpu seconds            workers {cpu[0]:.1f}, sink {cpu[1]:.1f}, redis {cpu[2]:.1f} "
              f"(2 cores: {2 * wall:.1f} available)")
        print(f"duplicates             {got['duplicates']}")
        print(f"lost                   {n - got['unique']}")
        print(f"floor                  {floor_wall:.2f} s for {floor_got['recipients']:,} recipients "
              f"in {floor_got['requests']:,} requests")
        print(f"floor, sendgrid client {client_floor_wall:.2f} s (same loop, the official client digest uses)")
        print(f"ratio digest / floor   {wall / floor_wall:.2f}")
    finally:
        for w in workers:
            try:
                os.killpg(w.pid, signal.SIGTERM)
                w.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(w.pid, signal.SIGKILL)
        sink_proc.terminate()
        for key_batch in _chunks(store.r.scan_iter(f"{prefix}:*", count=5000), 5000):
            store.r.delete(*key_batch)


def _chunks(it, n):  # type: ignore[no-untyped-def]
    chunk = []
    for item in it:
        chunk.append(item)
        if len(chunk) == n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


if __name__ == "__main__":
    main()
