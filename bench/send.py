"""Delivery benchmark: one issue to N subscribers through real Celery sender processes.

    python bench/send.py [--subscribers 1000000] [--senders 1,2,4] [--concurrency 2]
                         [--broker redis|rabbitmq|amqp://...] [--repeat 1] [--profile]

Loads N subscribers (random topic choices out of 8 topics) into a list, then for
each count K in --senders sends one issue through K sender processes (celery
workers on the `send` queue, each with --concurrency pool processes) to a loopback
SendGrid sink (bench/sink.py) and prints wall time, recipients per second and per
CPU-second, requests, bytes per request, premailer calls, peak memory, duplicates
and lost. Right after each send it times the floor: a bare loop that reads the same
addresses from Redis and posts them 1,000 per request on one kept-alive connection
(orjson bodies), with no rendering, no tasks, no bookkeeping, no per-reader links;
and prints digest's time over that floor's. The last line is the ratio of the
default run (2 senders, or the only count given). --repeat R runs everything R
times, interleaved, and reports medians. The first repetition also times the same
loop through the official sendgrid client (a connection per request).

--broker rabbitmq puts Celery on the RabbitMQ at 127.0.0.1:5672 (guest/guest) in a
vhost of the run's own (rabbitmqctl), Redis still the store. --profile instead runs
send_batch in this process on full batches under cProfile and prints where the time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import json
import os
import pstats
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import sendgrid  # noqa: E402

from digest.celery_app import make_celery  # noqa: E402
from digest.config import Settings, load_settings  # noqa: E402
from digest.deliver import make_sender  # noqa: E402
from digest.deliver.ledger import Ledger  # noqa: E402
from digest.deliver.send import prepare_issue, send_batch  # noqa: E402
from digest.models import DigestList, Subscriber, Topic  # noqa: E402
from digest.ops.queues import send_messages  # noqa: E402
from digest.redis_server import ensure_redis  # noqa: E402
from digest.store import Store  # noqa: E402
from tests.factories import article, file_as  # noqa: E402

TOPICS = ["climate", "space", "markets", "health", "science", "culture", "sport", "politics"]
DEFAULT_SENDERS = 2  # "the default run": its ratio is the last line


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


def peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident memory) of one process."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


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


def pids_named(name: str) -> list[int]:
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == name:
                found.append(int(comm.parent.name))
        except (OSError, ValueError):
            continue
    return found


# -- the floor -------------------------------------------------------------------------


@dataclass
class Floor:
    wall: float
    cpu: float  # this loop's own process, the sink and Redis
    requests: int
    recipients: int
    bytes: int


def floor(store: Store, url: str, redis_pids: list[int], sink_pid: int, official_client: bool = False) -> Floor:
    """Read the same addresses from Redis, post them 1,000 per request. Nothing else.

    The bare floor posts orjson bodies with http.client on one kept-alive connection;
    with official_client it posts through the sendgrid client digest uses (a new
    connection per request, json.dumps), to show what the client itself costs.
    """
    sink(url, "/reset")
    html = "<p>" + "x" * 60_000 + "</p>"
    client = sendgrid.SendGridAPIClient(api_key="SG.bench", host=url)
    conn = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]))
    headers = {"Authorization": "Bearer SG.bench", "Content-Type": "application/json"}
    others = [*redis_pids, sink_pid]
    cpu_before, own_before = cpu_seconds(others), time.process_time()
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
                conn.request("POST", "/v3/mail/send", body=orjson.dumps(body), headers=headers)
                conn.getresponse().read()
    wall = time.perf_counter() - started
    cpu = time.process_time() - own_before + cpu_seconds(others) - cpu_before
    conn.close()
    got = sink(url)
    return Floor(wall, cpu, got["requests"], got["recipients"], got["bytes"])


# -- digest's send through sender processes ----------------------------------------------


@dataclass
class Run:
    senders: int
    recipients: int
    wall: float
    planned: float
    cpu_main: float  # the senders' main (consumer) processes
    cpu_pool: float  # their pool processes, where send_batch runs
    cpu_sink: float
    cpu_redis: float
    cpu_broker: float  # RabbitMQ's server, when it is the broker (0 with Redis: it is the store's server)
    requests: int
    bytes: int
    duplicates: int
    lost: int
    premailer: str
    peaks: list[float]
    states: dict[str, int]

    @property
    def cpu_senders(self) -> float:
        return self.cpu_main + self.cpu_pool

    @property
    def cpu_total(self) -> float:
        return self.cpu_senders + self.cpu_sink + self.cpu_redis + self.cpu_broker


def start_senders(k: int, args: argparse.Namespace, env: dict[str, str], tmp: Path) -> list[subprocess.Popen[bytes]]:
    run = uuid.uuid4().hex[:6]
    extra = ["--prefetch-multiplier", str(args.prefetch)] if args.prefetch else []
    return [subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "digest.celery_app", "worker", "-Q", "send",
         "-c", str(args.concurrency), "-P", "prefork", "-n", f"bench{run}-{i}@%h", "--without-gossip",
         "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING", *extra],
        env=env, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=open(tmp / f"sender{run}-{i}.log", "wb")) for i in range(k)]


def stop_senders(senders: list[subprocess.Popen[bytes]]) -> None:
    for w in senders:
        try:
            os.killpg(w.pid, signal.SIGTERM)
            w.wait(20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(w.pid, signal.SIGKILL)


def wait_ready(app, k: int, deadline: float = 90.0) -> None:  # type: ignore[no-untyped-def]
    """Until k sender processes answer a ping: the clock must not time their start-up."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if len(app.control.ping(timeout=1.0) or []) >= k:
            return
    raise SystemExit(f"{k} sender processes did not start within {deadline:.0f} s")


def send_once(store: Store, settings: Settings, app, senders: list[subprocess.Popen[bytes]],  # type: ignore[no-untyped-def]
              sink_url: str, redis_pids: list[int], broker_pids: list[int], sink_pid: int) -> Run:
    sink(sink_url, "/reset")
    ledger = Ledger(store)
    mains = [w.pid for w in senders]
    pool = [p for w in senders for p in group_pids(w.pid) if p not in mains]
    watched = [mains, pool, [sink_pid], redis_pids, broker_pids]
    cpu_before = [cpu_seconds(p) for p in watched]
    started = time.perf_counter()
    plan = prepare_issue(store, settings, "bench", again=True)  # again: each run sends the same articles
    planned = time.perf_counter() - started
    with app.producer_pool.acquire(block=True) as producer:
        for name, args in send_messages(plan.issue_id, plan.batches):  # as digest.tasks.enqueue_batches
            app.send_task(name, args=args, queue="send", producer=producer)
    batches_key = ledger.k(plan.issue_id, "batches")
    while any(s.startswith(("pending", "submitting", "retry")) for s in store.r.hvals(batches_key)):
        time.sleep(0.05)  # a cheap look; the ledger's full status is read once at the end
    wall = time.perf_counter() - started
    cpu = [cpu_seconds(p) - b for p, b in zip(watched, cpu_before, strict=True)]
    status = ledger.status(plan.issue_id)
    got = sink(sink_url)
    run = Run(len(senders), plan.recipients, wall, planned, *cpu, requests=got["requests"], bytes=got["bytes"],
              duplicates=got["duplicates"], lost=plan.recipients - got["unique"],
              premailer=ledger.meta(plan.issue_id).get("premailer_calls", "?"),
              peaks=[peak_rss_mb(p) for p in mains + pool], states=status.states)
    drop_issue(store, plan.issue_id)
    return run


def drop_issue(store: Store, issue_id: str) -> None:
    """An issue's frozen copies hold every subscriber again (~100 MB a million): gone after each run."""
    keys = list(store.r.scan_iter(Ledger(store).k(issue_id) + "*", count=5000))
    for i in range(0, len(keys), 1000):
        store.r.delete(*keys[i:i + 1000])


# -- RabbitMQ ------------------------------------------------------------------------


def rabbitmq_vhost(url: str) -> tuple[str, str | None]:
    """A vhost of this run's own on the local RabbitMQ (as each installation has), or `url` as given."""
    if url != "rabbitmq":
        return url, None
    if not shutil.which("rabbitmqctl"):
        raise SystemExit("--broker rabbitmq needs rabbitmqctl to make a vhost (or give --broker amqp://...)")
    vhost = f"digest-bench-{uuid.uuid4().hex[:8]}"
    for cmd in (["add_vhost", vhost], ["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"]):
        subprocess.run(["rabbitmqctl", "-q", *cmd], check=True, capture_output=True, timeout=60)
    return f"amqp://guest:guest@127.0.0.1:5672/{vhost}", vhost


# -- the profile -----------------------------------------------------------------------


def profile(store: Store, settings: Settings, batches: int, top: int) -> None:
    """send_batch in this process on full batches against the sink: per-batch cost, then cProfile."""
    sender = make_sender(settings)
    for profiled in (False, True):
        plan = prepare_issue(store, settings, "bench", again=True)
        ledger = Ledger(store)
        full = [b for b in plan.batches if ledger.planned(plan.issue_id, b) == settings.batch_size][:batches + 1]
        if len(full) < 2:
            raise SystemExit("--profile needs full batches: at least 256,000 subscribers")
        send_batch(store, settings, sender, plan.issue_id, full[0])  # warm: the issue's view, connections
        prof = cProfile.Profile()
        wall, cpu = time.perf_counter(), time.process_time()
        if profiled:
            prof.enable()
        for batch in full[1:]:
            send_batch(store, settings, sender, plan.issue_id, batch)
        prof.disable()
        n = len(full) - 1
        wall, cpu = (time.perf_counter() - wall) / n * 1000, (time.process_time() - cpu) / n * 1000
        print(f"send_batch, {settings.batch_size:,} recipients, {'under cProfile' if profiled else 'plain'}: "
              f"{wall:.1f} ms wall, {cpu:.1f} ms CPU per batch ({n} batches)")
        drop_issue(store, plan.issue_id)
    pstats.Stats(prof).strip_dirs().sort_stats("tottime").print_stats(top)


# -- main -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--senders", "--workers", default=str(DEFAULT_SENDERS),
                        help="sender processes; several (1,2,4) print the scaling")
    parser.add_argument("--concurrency", type=int, default=2)  # two pool processes a core: one computes while one waits
    parser.add_argument("--prefetch", type=int, default=0, help="override worker_prefetch_multiplier (measuring)")
    parser.add_argument("--broker", default="redis", help="redis (the store's), rabbitmq (local, own vhost) or a URL")
    parser.add_argument("--repeat", type=int, default=1, help="repeat every run (and its floor); report medians")
    parser.add_argument("--profile", action="store_true", help="cProfile send_batch in this process instead")
    parser.add_argument("--profile-batches", type=int, default=40)
    args = parser.parse_args()
    counts = [int(k) for k in args.senders.split(",")]

    tmp = Path(tempfile.mkdtemp(prefix="digest-bench-"))
    url, _server = ensure_redis(os.environ.get("REDIS_URL"), tmp)
    redis_pids = [_server.process.pid] if _server and _server.process else pids_named("redis-server")
    prefix = f"bench{os.getpid()}"
    sink_proc, sink_url = start_sink(tmp)
    secret = secrets.token_urlsafe(32)
    broker_url, vhost = rabbitmq_vhost(args.broker) if args.broker != "redis" else (url, None)
    broker_pids = pids_named("beam.smp") if vhost or args.broker.startswith("amqp") else []
    settings = load_settings(redis_url=url, redis_prefix=prefix, sendgrid_api_key="SG.bench",
                             sendgrid_api_host=sink_url, base_url="https://bench.example", secret_key=secret,
                             celery_broker_url=None if broker_url == url else broker_url)
    store = Store.from_url(url, prefix)
    runs: dict[int, list[Run]] = {k: [] for k in counts}
    floors: list[Floor] = []
    client_floor: Floor | None = None
    try:
        t0 = time.perf_counter()
        load(store, args.subscribers)
        print(f"loaded {args.subscribers:,} subscribers in {time.perf_counter() - t0:.1f} s "
              f"({len(store.masks('bench'))} distinct topic choices)", flush=True)
        if args.profile:
            return profile(store, settings, args.profile_batches, 25)
        env = {**os.environ, "REDIS_URL": url, "REDIS_PREFIX": prefix, "SENDGRID_API_KEY": "SG.bench",
               "SENDGRID_API_HOST": sink_url, "BASE_URL": "https://bench.example", "SECRET_KEY": secret}
        if broker_url != url:
            env["CELERY_BROKER_URL"] = broker_url
        app = make_celery(settings)
        for rep in range(args.repeat):
            for k in counts:
                senders = start_senders(k, args, env, tmp)
                try:
                    wait_ready(app, k)
                    run = send_once(store, settings, app, senders, sink_url, redis_pids, broker_pids, sink_proc.pid)
                finally:
                    stop_senders(senders)
                runs[k].append(run)
                floors.append(floor(store, sink_url, redis_pids, sink_proc.pid))
                print(f"[{rep + 1}/{args.repeat}] {k} sender(s): {run.wall:.2f} s, floor {floors[-1].wall:.2f} s, "
                      f"ratio {run.wall / floors[-1].wall:.2f}, dup {run.duplicates}, lost {run.lost}", flush=True)
            if rep == 0:
                client_floor = floor(store, sink_url, redis_pids, sink_proc.pid, official_client=True)
        report(args, runs, floors, client_floor)
    finally:
        sink_proc.terminate()
        for key_batch in _chunks(store.r.scan_iter(f"{prefix}:*", count=5000), 5000):
            store.r.delete(*key_batch)
        if vhost:
            subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True, timeout=60)


def report(args: argparse.Namespace, runs: dict[int, list[Run]], floors: list[Floor],
           client_floor: Floor | None) -> None:
    med = statistics.median
    fl = med(f.wall for f in floors)
    main_k = DEFAULT_SENDERS if DEFAULT_SENDERS in runs else next(iter(runs))
    r = runs[main_k]
    last = r[-1]
    n = last.recipients
    print(json.dumps({"states": last.states}))
    print(f"subscribers            {args.subscribers:,}; broker {args.broker}; {args.repeat} repetition(s), medians")
    print(f"senders                {main_k} x concurrency {args.concurrency}"
          + (f", prefetch multiplier {args.prefetch}" if args.prefetch else ""))
    print(f"wall time              {med(x.wall for x in r):.2f} s (planning, rendering and freezing: "
          f"{med(x.planned for x in r):.2f} s)")
    print(f"recipients per second  {n / med(x.wall for x in r):,.0f}")
    floor_kb = floors[-1].bytes / max(1, floors[-1].requests) / 1024
    print(f"requests               {last.requests:,}, {n / max(1, last.requests):.1f} recipients and "
          f"{last.bytes / max(1, last.requests) / 1024:,.0f} KB each (floor: {floor_kb:,.0f} KB)")
    print(f"premailer calls        {last.premailer}")
    print("peak memory            " + ", ".join(f"{mb:.0f}" for mb in last.peaks) + " MB (main processes, then pool)")
    print(f"cpu seconds            senders {med(x.cpu_senders for x in r):.1f} (main {med(x.cpu_main for x in r):.1f}, "
          f"pool {med(x.cpu_pool for x in r):.1f}), sink {med(x.cpu_sink for x in r):.1f}, "
          f"redis {med(x.cpu_redis for x in r):.1f}" + (f", rabbitmq {med(x.cpu_broker for x in r):.1f}"
                                                        if any(x.cpu_broker for x in r) else "")
          + f" (2 cores: {2 * med(x.wall for x in r):.1f} available)")
    print(f"duplicates             {sum(x.duplicates for k in runs for x in runs[k])} (all runs)")
    print(f"lost                   {sum(x.lost for k in runs for x in runs[k])} (all runs)")
    print(f"floor                  {fl:.2f} s, cpu {med(f.cpu for f in floors):.1f} s, for "
          f"{floors[-1].recipients:,} recipients in {floors[-1].requests:,} requests")
    if client_floor:
        print(f"floor, sendgrid client {client_floor.wall:.2f} s (same loop, the official client digest uses, once)")
    if len(runs) > 1:
        print("\nscaling (medians)   wall      rcpt/s   rcpt/CPU-s senders   rcpt/CPU-s all   ratio")
        for k, rs in runs.items():
            ratios = [x.wall / f.wall for x, f in zip(rs, floors[list(runs).index(k)::len(runs)], strict=True)]
            print(f"  {k} sender(s)     {med(x.wall for x in rs):6.2f} s  {n / med(x.wall for x in rs):9,.0f}"
                  f"  {n / med(x.cpu_senders for x in rs):19,.0f}  {n / med(x.cpu_total for x in rs):15,.0f}"
                  f"  {med(ratios):6.2f}")
    k_floors = floors[list(runs).index(main_k)::len(runs)]  # each run's own floor, measured right after it
    ratio = med(x.wall / f.wall for x, f in zip(r, k_floors, strict=True))
    print(f"ratio digest / floor   {ratio:.2f} ({main_k} senders, median of same-run ratios)")


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
