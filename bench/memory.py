"""Redis memory for a million subscribers and a million articles, measured.

    python bench/memory.py [--subscribers 1000000] [--articles 1000000]

Starts a Redis of its own (nothing else in it), then reads INFO memory's
used_memory before and after each load, through the code paths digest uses:
subscribers by `import_csv` into a double opt-in list (a record, consent
evidence and a send-group entry each; a third choose topics), articles by
`save_articles` (body JSON with a 600-character summary, the index and its
dedup keys), then their embeddings by `save_vectors` (512 half floats each).
The last lines are the figures of the README's "Data layout" section.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from digest.models import Article, DigestList, Topic  # noqa: E402
from digest.redis_server import LocalRedis  # noqa: E402
from digest.store import Store  # noqa: E402
from digest.subscriber_csv import import_csv  # noqa: E402

TTL = 30 * 86400
WORDS = "orbit climate market rates glacier rocket lander battery emissions chip earnings flight".split()


def used(store: Store) -> int:
    return int(store.r.info("memory")["used_memory"])


def load_subscribers(store: Store, n: int, folder: Path) -> None:
    topics = [Topic(slug=s, name=s.title(), keywords=[s]) for s in ("climate", "space", "markets")]
    store.add_list(DigestList(slug="weekly", name="Weekly", from_email="news@example.com", topics=topics,
                              postal_address="1 Orbit Road, Springfield"))
    csv_file = folder / "subscribers.csv"
    with csv_file.open("w") as f:
        f.write("email,name,topics\n")
        choices = ["", "space", "climate;markets"]
        for i in range(n):
            f.write(f"reader{i}@example{i % 97}.com,Reader {i},{choices[i % 3]}\n")
    import_csv(store, "weekly", csv_file)


def load_articles(store: Store, n: int, vectors: bool) -> None:
    now = datetime.now(timezone.utc)
    rng = np.random.default_rng(1)
    for start in range(0, n, 1000):
        batch = []
        for i in range(start, min(n, start + 1000)):
            url = f"https://news{i % 500}.example/2026/11/story-{i}"
            text = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(80))[:600]
            batch.append(Article(
                id=hashlib.sha1(url.encode()).hexdigest(), feed_id=f"feed{i % 500}", source=f"News {i % 500}",
                title=f"Story {i}: {' '.join(WORDS[i % 7:i % 7 + 5])}", url=url, guid=url,
                published=now - timedelta(minutes=i), summary_html=f"<p>{text}</p>", summary_text=text,
                content_hash=hashlib.sha1(f"c{i}".encode()).hexdigest()))
        if vectors:
            store.save_vectors({a.id: rng.standard_normal(512).astype(np.float32) for a in batch}, TTL)
        else:
            store.save_articles(batch, TTL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--articles", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = LocalRedis(data_dir=Path(tmp) / "redis").start()
        try:
            store = Store.from_url(server.url, "digest")
            rows = []
            for what, load in [
                (f"{args.subscribers:,} subscribers", lambda: load_subscribers(store, args.subscribers, Path(tmp))),
                (f"{args.articles:,} articles", lambda: load_articles(store, args.articles, False)),
                (f"{args.articles:,} article embeddings", lambda: load_articles(store, args.articles, True)),
            ]:
                before, t = used(store), time.monotonic()
                load()
                after = used(store)
                rows.append((what, after - before, time.monotonic() - t))
                print(f"{what}: {(after - before) / 2**20:,.0f} MiB ({time.monotonic() - t:.0f} s)", flush=True)
            print(f"used_memory in all: {used(store) / 2**20:,.0f} MiB (redis {store.r.info()['redis_version']})")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
