"""Import benchmark: a generated CSV through the code path of `digest subscribers import`.

    python bench/import.py [--rows 1000000]      (or: python3 dev.py bench import --rows ...)

Writes a CSV of N rows in which 1 % are hostile, spread over every kind the
import must survive (more and fewer fields than the header, bytes that are not
UTF-8, invalid addresses, unknown topics, addresses twice in the file, a stray
quote, and =HYPERLINK(...) names, which are valid and kept), then imports it
into a single opt-in list with `digest.subscriber_csv.import_csv`, the function
the command calls, in a child process whose peak resident memory (VmHWM) is
read at the end. In the same child it times the floor: a bare loop that
writes the same rows to Redis (pipelined HSET, 2,000 a round trip) with no
parsing beyond a split and no validation. Starts its own Redis when none
answers at REDIS_URL. The last line is

    import: N rows, R rows/s, peak RSS M MB, baseline B rows/s
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from digest.models import DigestList, Topic  # noqa: E402
from digest.redis_server import ensure_redis  # noqa: E402
from digest.store import Store  # noqa: E402
from digest.subscriber_csv import import_csv  # noqa: E402

TOPICS = ["climate", "space", "markets", "health", "science", "culture", "sport", "politics"]
HOSTILE = ["more_fields", "fewer_fields", "not_utf8", "invalid_address", "unknown_topic", "duplicate",
           "stray_quote", "formula_name"]
REFUSED = set(HOSTILE) - {"formula_name"}  # a formula name is valid: kept, and neutralised on export
BAD_ADDRESSES = ["no-at-sign.example.com", "two@@example.com", "dots..twice@example.com", "trailing.@example.com",
                 "user@localhost", "user@example.invalid", "user@-bad-.example.com", "user@" + "x" * 64 + ".com",
                 "sp ace@example.com", "user@example.123"]


def generate(path: Path, rows: int, seed: int = 1) -> Counter[str]:
    """Write the file; returns how many rows of each hostile kind it has."""
    rng = random.Random(seed)
    kinds: Counter[str] = Counter()
    every = 100  # one row in a hundred is hostile, taking the kinds in turn
    with path.open("wb") as f:
        f.write(b"email,name,topics\n")
        for i in range(rows):
            topics = ";".join(t for t in TOPICS if rng.random() < 0.25)
            email, name = f"Reader.{i}@Mail{i % 997}.Example.com", f"Reader {i}"
            if i % 50 == 7:
                name = f'"Reader, {i}"'  # a quoted name with the delimiter in it
            elif i % 1000 == 11:
                email = f"reader{i}@bücher{i % 7}.example"  # an IDN domain: the slow path
            line = f"{email},{name},{topics}\n".encode()
            if i % every == every - 1 and i >= every:
                kind = HOSTILE[(i // every) % len(HOSTILE)]
                kinds[kind] += 1
                line = {
                    "more_fields": f"{email},{name},{topics},extra\n".encode(),
                    "fewer_fields": f"{email},{name}\n".encode(),
                    "not_utf8": f"{email},".encode() + b"R\xe9ader\n",
                    "invalid_address": f"{BAD_ADDRESSES[i % len(BAD_ADDRESSES)]},{name},{topics}\n".encode(),
                    "unknown_topic": f"{email},{name},cooking\n".encode(),
                    "duplicate": f"reader.{i - 1}@mail{(i - 1) % 997}.example.com,Again,\n".encode(),
                    "stray_quote": f'{email},"Reader {i},{topics}\n'.encode(),
                    "formula_name": f'{email},"=HYPERLINK(""https://evil.example/?{i}"",""Click"")",{topics}\n'.encode(),
                }[kind]
            f.write(line)
    return kinds


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def baseline(store: Store, path: Path, chunk: int = 2000) -> float:
    """Seconds to write the file's rows to Redis with no validation: split, pipelined HSET."""
    key = store.key("baseline")
    started = time.perf_counter()
    with path.open("rb") as f:
        f.readline()
        batch: dict[bytes, bytes] = {}
        for raw in f:
            email, _, rest = raw.rstrip(b"\r\n").partition(b",")
            batch[email] = rest
            if len(batch) >= chunk:
                with store.r.pipeline(transaction=False) as pipe:
                    pipe.hset(key, mapping=batch)  # type: ignore[arg-type]
                    pipe.execute()
                batch = {}
        if batch:
            store.r.hset(key, mapping=batch)  # type: ignore[arg-type]
    return time.perf_counter() - started


def child(path: Path, url: str, prefix: str) -> None:
    """The importing process: import, then the floor; prints one JSON line."""
    store = Store.from_url(url, prefix)
    refused: Counter[str] = Counter()

    def on_problem(line: int, reason: str) -> None:
        refused[reason.split(" ", 1)[0] if "already in the file" not in reason else "duplicate"] += 1

    started = time.perf_counter()
    summary = import_csv(store, "bench", path, on_problem=on_problem)
    took = time.perf_counter() - started
    peak = peak_rss_mb()
    floor = baseline(store, path)
    print(json.dumps({"seconds": took, "peak_mb": peak, "floor_seconds": floor, "summary": vars(summary),
                      "refused_by_reason": refused}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=3, metavar=("CSV", "URL", "PREFIX"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), args.child[1], args.child[2])
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="digest-bench-import-"))
    url, _server = ensure_redis(os.environ.get("REDIS_URL"), tmp)
    prefix = f"benchimport{os.getpid()}"
    store = Store.from_url(url, prefix)
    path = tmp / "subscribers.csv"
    try:
        t0 = time.perf_counter()
        kinds = generate(path, args.rows)
        print(f"generated {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s; "
              f"hostile: " + ", ".join(f"{k} {kinds[k]}" for k in HOSTILE), flush=True)
        store.add_list(DigestList(slug="bench", name="Bench Weekly", from_email="news@bench.example", opt_in="single",
                                  topics=[Topic(slug=t, name=t.title()) for t in TOPICS]))
        done = subprocess.run([sys.executable, __file__, "--child", str(path), url, prefix],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        result = json.loads(done.stdout.strip().splitlines()[-1])
        summary = result["summary"]
        expected_refused = sum(kinds[k] for k in REFUSED)
        expected_new = args.rows - expected_refused
        print(f"summary     {summary}")
        print(f"refused     {result['refused_by_reason']}")
        print(f"expected    {expected_new:,} new, {expected_refused:,} refused: "
              f"{'ok' if (summary['new'], summary['refused']) == (expected_new, expected_refused) else 'MISMATCH'}")
        print(f"active      {store.subscriber_count('bench'):,}")
        rate = args.rows / result["seconds"]
        floor_rate = args.rows / result["floor_seconds"]
        print(f"import      {result['seconds']:.1f} s; floor {result['floor_seconds']:.1f} s "
              f"(digest / floor {result['seconds'] / result['floor_seconds']:.2f})")
        print(f"import: {args.rows:,} rows, {rate:,.0f} rows/s, peak RSS {result['peak_mb']:.0f} MB, "
              f"baseline {floor_rate:,.0f} rows/s")
        return 0
    finally:
        keys = list(store.r.scan_iter(f"{prefix}:*", count=5000))
        for i in range(0, len(keys), 5000):
            store.r.delete(*keys[i:i + 5000])
        if _server is not None:
            _server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
