"""Load test of the editors' signed-in review page for a 50-article issue.

    python bench/preview.py [--requests 300] [--path review|preview]

Starts a Redis (or uses REDIS_URL), seeds a list whose next issue holds 50
articles (each its own story, in three topics and More news), makes an admin
account, and starts the web process as the Procfile runs it (gunicorn, two
workers) on loopback. From this second process it signs in as a browser does
(the login form, the session cookie), warms the page up, then requests it N
times on one kept-alive connection and prints the latency percentiles. The
same run times /healthz, the web stack's own floor (no store work, no
rendering), and prints the ratio. The last line is

    preview: p50 X ms, p95 Y ms, N requests

`review` is the page an editor opens (the issue with its preflight); `preview`
the email alone, as the review page's frames load it.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from digest.editors.accounts import ADMIN, create_account  # noqa: E402
from digest.models import DigestList, Topic  # noqa: E402
from digest.redis_server import ensure_redis  # noqa: E402
from digest.store import Store  # noqa: E402
from tests.factories import article, file_as  # noqa: E402

TOPICS = ["climate", "space", "markets"]
WORDS = "".join(chr(c) for c in range(ord("a"), ord("z") + 1))


def seed(store: Store, n: int = 50) -> None:
    """A list whose next issue has n different stories (no words in common but the filler)."""
    store.add_list(DigestList(slug="bench", name="Bench Weekly", from_email="news@bench.example",
                              postal_address="1 Bench Road, Springfield", max_per_section=n,
                              topics=[Topic(slug=t, name=t.title(), keywords=[t]) for t in TOPICS]))
    for i in range(n):
        topic = TOPICS[i % 4] if i % 4 < 3 else None
        a = article(i, topic)
        own = " ".join(f"{WORDS[i % 26]}{WORDS[(i * 7 + k) % 26]}{WORDS[k]}{i}" for k in range(12))
        a.summary_text = f"{own}. " + "A long summary of what happened and why it matters to readers. " * 7
        a.image = f"https://img.example/{i}.jpg"
        a.title = f"Event {i} {own.split()[0]}: a headline of a realistic length for a news story"
        store.save_article(a, 86400)
        file_as(store, [a], topic, "bench")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Browser:
    """One kept-alive connection with a cookie, as a signed-in editor's browser."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookie = ""

    def request(self, method: str, path: str, body: str = "") -> tuple[int, str, dict[str, str]]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if body:
            headers.update({"Content-Type": "application/x-www-form-urlencoded",
                            "Origin": f"http://127.0.0.1:{self.conn.port}", "Sec-Fetch-Site": "same-origin"})
        self.conn.request(method, path, body=body or None, headers=headers)
        response = self.conn.getresponse()
        data = response.read().decode("utf-8", "replace")
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return response.status, data, dict(response.getheaders())

    def timed(self, path: str, n: int) -> list[float]:
        times = []
        for _ in range(n):
            started = time.perf_counter()
            status, _, _ = self.request("GET", path)
            times.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise SystemExit(f"GET {path} answered {status}")
        return times


def wait_for_port(port: int, proc: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the web process stopped; see its log")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the web process did not answer")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--path", choices=["review", "preview"], default="review")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="digest-bench-preview-"))
    url, _server = ensure_redis(os.environ.get("REDIS_URL"), tmp)
    prefix = f"benchpv{os.getpid()}"
    store = Store.from_url(url, prefix)
    seed(store)
    password = secrets.token_urlsafe(18)
    create_account(store, "admin@bench.example", password, role=ADMIN)
    port = free_port()
    env = {**os.environ, "REDIS_URL": url, "REDIS_PREFIX": prefix, "SECRET_KEY": secrets.token_urlsafe(32),
           "BASE_URL": f"http://127.0.0.1:{port}"}
    log = (tmp / "web.log").open("wb")
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                            "digest.web:create_app()"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, web)
        browser = Browser(port)
        form = urllib.parse.urlencode({"email": "admin@bench.example", "password": password, "next": "/lists"})
        status, _, headers = browser.request("POST", "/login", form)
        if status != 303 or not browser.cookie:
            raise SystemExit(f"sign-in failed ({status})")
        status, email, _ = browser.request("GET", "/lists/bench/preview")
        if status != 200 or len(re.findall(r"Event \d+ ", email)) < 50:
            raise SystemExit(f"the preview answered {status} without the 50 articles")
        path = f"/lists/bench/{args.path}"
        status, page, _ = browser.request("GET", path)
        if status != 200 or "Bench Weekly" not in page:
            raise SystemExit(f"GET {path} answered {status}")
        browser.timed(path, 20)  # warm: both gunicorn workers, their caches, the model-free code paths
        floor = browser.timed("/healthz", args.requests)
        times = browser.timed(path, args.requests)
        print(f"page                   {path} ({len(page):,} bytes)")
        print(f"healthz                p50 {statistics.median(floor):.1f} ms, p95 {percentile(floor, 95):.1f} ms")
        print(f"mean                   {statistics.fmean(times):.1f} ms, max {max(times):.1f} ms")
        print(f"ratio p50 page/healthz {statistics.median(times) / statistics.median(floor):.1f}")
        print(f"preview: p50 {statistics.median(times):.0f} ms, p95 {percentile(times, 95):.0f} ms, "
              f"{len(times)} requests")
    finally:
        web.terminate()
        web.wait(10)
        for keys in _chunks(store.r.scan_iter(f"{prefix}:*", count=5000), 5000):
            store.r.delete(*keys)


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
