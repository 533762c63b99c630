"""The public archive under a stranger's loop: its feed and its index, uncached and kept.

    python bench/archive.py [--issues 260] [--seconds 3]

Starts a Redis (or uses REDIS_URL), sends one real issue of a 50-article list,
then stores --issues copies of it as issues out (five years of a weekly list),
and asks the web app (in this process, Flask's test client: no network, so the
figures are the app's own work) for /archive/<list>/feed.xml and /archive/<list>
as fast as it answers for --seconds each way:

    uncached  the archive's revision set anew before each request, as if every
              request came after a change: each one reads every issue and the
              feed parses its 50 renderings again (what every request cost before)
    kept      the feed and the index as kept for the revision
    304       a feed reader sending the ETag back

The last line is

    archive feed: uncached X req/s, kept Y req/s, ratio Y/X
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.preview import seed  # noqa: E402
from digest.config import Settings  # noqa: E402
from digest.deliver.ledger import Ledger  # noqa: E402
from digest.deliver.outbox import OutboxSender  # noqa: E402
from digest.deliver.send import prepare_issue, send_inline  # noqa: E402
from digest.models import Subscriber  # noqa: E402
from digest.redis_server import ensure_redis  # noqa: E402
from digest.store import Store  # noqa: E402
from digest.store.archive import new_rev  # noqa: E402
from digest.web import create_app  # noqa: E402


def rate(seconds: float, request: Callable[[], None], before: Callable[[], None] = lambda: None) -> float:
    """Requests a second for `seconds` (at least 5 requests), `before` run ahead of each, untimed."""
    done, spent = 0, 0.0
    while spent < seconds or done < 5:
        before()
        start = time.perf_counter()
        request()
        spent += time.perf_counter() - start
        done += 1
    return done / spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--issues", type=int, default=260)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="digest-bench-archive-"))
    url, _server = ensure_redis(os.environ.get("REDIS_URL"), tmp)
    prefix = f"bench{secrets.token_hex(4)}"
    settings = Settings(redis_url=url, redis_prefix=prefix, data_dir=tmp / "var", outbox_dir=tmp / "outbox",
                        base_url="https://digest.example", secret_key=secrets.token_urlsafe(32),  # type: ignore[arg-type]
                        sendgrid_api_key=None)
    store = Store.from_url(url, prefix)
    try:
        seed(store)
        store.add_subscriber("bench", Subscriber(email="reader@bench.example"))
        plan = prepare_issue(store, settings, "bench")
        send_inline(store, settings, OutboxSender(settings.outbox_dir), plan.issue_id)
        ledger = Ledger(store)
        rendered = plan.rendered.to_json()
        for n in range(args.issues - 1):
            ledger.create(f"bench-20200101-{100 + n}", "bench", {"subject": f"Issue {n}", "status": "done"}, rendered)
        print(f"{args.issues} issues out, each rendering {len(rendered) // 1024} KB")

        client = create_app(settings).test_client()

        def get(path: str, status: int = 200, **headers: str) -> Callable[[], None]:
            def request() -> None:
                r = client.get(path, headers=headers)
                assert r.status_code == status, (path, r.status_code)
            return request

        def change() -> None:
            store.r.set(store.archive_rev_key("bench"), new_rev())

        figures = {}
        for name, path in (("feed", "/archive/bench/feed.xml"), ("index", "/archive/bench"),
                           ("index page 13", "/archive/bench?page=13")):
            uncached = rate(args.seconds, get(path), before=change)
            get(path)()
            kept = rate(args.seconds, get(path))
            figures[name] = (uncached, kept)
            print(f"{name}: uncached {uncached:.1f} req/s, kept {kept:.1f} req/s")
        etag = client.get("/archive/bench/feed.xml").headers["ETag"]
        has_it = rate(args.seconds, get("/archive/bench/feed.xml", 304, **{"If-None-Match": etag}))
        print(f"feed 304: {has_it:.1f} req/s")
        uncached, kept = figures["feed"]
        print(f"archive feed: uncached {uncached:.1f} req/s, kept {kept:.1f} req/s, ratio {kept / uncached:.0f}")
    finally:
        keys = list(store.r.scan_iter(f"{prefix}:*", count=1000))
        for i in range(0, len(keys), 1000):
            store.r.delete(*keys[i:i + 1000])


if __name__ == "__main__":
    main()
