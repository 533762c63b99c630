"""Politeness through the real path: loopback servers, the real collector, a real Redis.

When a feed is checked again (Retry-After, Cache-Control, RSS ttl, skipHours and
skipDays), how failures pause it and 410 retires it, how permanent redirects
move it, the per-host cap and delay across processes, and that one slow host
holds up no one.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from digest.collect.collector import collect_all, collect_feed, due_feeds
from digest.collect.politeness import (
    HINT_MAX,
    HostBusy,
    HostGate,
    after_skips,
    cache_max_age,
    next_check,
    skipped,
)
from tests.factories import add_feed as add
from tests.feedserver import DribbleServer, FeedServer
from tests.workers import worker_env

ATOM = """<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Orbit</title>
<id>tag:o</id><updated>2026-11-22T10:00:00Z</updated><entry><title>Probe lands on Mars {n}</title><id>tag:o:{n}</id>
<link href="https://orbit.example/mars/{n}"/><published>2026-11-22T09:30:00Z</published>
<content type="html">&lt;p&gt;{text}&lt;/p&gt;</content></entry></feed>"""
LONG_TEXT = "The lander touched down in the crater after a seven month cruise and sent its first pictures. " * 8


def atom(n: int = 1) -> str:
    """A feed with one whole article (no teaser: no article page is fetched)."""
    return ATOM.format(n=n, text=LONG_TEXT)


def rss(extra: str = "", n: int = 1) -> str:
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Planet</title>{extra}'
            f"<item><title>Story {n}</title><link>https://planet.example/{n}</link><guid>p-{n}</guid>"
            f"<description>{LONG_TEXT}</description></item></channel></rss>")


def paths(server: FeedServer) -> list[str]:
    return [path for path, _ in server.requests]


def close_to(actual: datetime | None, expected: datetime, seconds: float = 5) -> bool:
    return actual is not None and abs((actual - expected).total_seconds()) <= seconds


# -- when a feed is checked again ---------------------------------------------------------


def test_a_429_with_retry_after_waits_that_long_and_a_later_run_leaves_the_feed_alone(store, settings, server):
    add(store, "busy", server.route("/busy", status=429, headers={"Retry-After": "7200"}))
    before = datetime.now(timezone.utc)
    result = collect_all(store, settings)[0]
    assert "HTTP 429" in result.error
    state = store.feed_state("busy")
    assert close_to(state.next_fetch_at, before + timedelta(hours=2))  # not the 15 min of a first backoff
    assert collect_all(store, settings) == [] and due_feeds(store) == []
    assert paths(server) == ["/busy"]


def test_a_503_with_a_retry_after_date_waits_until_then(store, settings, server):
    until = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=3)
    add(store, "down", server.route("/down", status=503,
                                    headers={"Retry-After": until.strftime("%a, %d %b %Y %H:%M:%S GMT")}))
    assert "HTTP 503" in collect_feed(store, settings, "down").error
    assert close_to(store.feed_state("down").next_fetch_at, until)


@pytest.mark.parametrize("header, hours", [
    ("max-age=7200", 2),
    ("public, max-age=\"7200\"", 2),
    ("max-age=999999999", HINT_MAX.total_seconds() / 3600),  # capped
])
def test_cache_control_max_age_puts_off_the_next_check(store, settings, server, header, hours):
    add(store, "cached", server.route("/cached", atom(), headers={"Cache-Control": header}))
    now = datetime.now(timezone.utc)
    assert collect_feed(store, settings, "cached", now=now).new == 1
    wait = timedelta(hours=hours)
    assert store.feed_state("cached").next_fetch_at == now + wait - min(wait / 10, timedelta(minutes=5))
    assert collect_feed(store, settings, "cached").skipped
    assert collect_all(store, settings) == []
    assert paths(server) == ["/cached"]


@pytest.mark.parametrize("header", ["no-cache, max-age=7200", "max-age=0", "max-age=-5", "max-age=soon", ""])
def test_no_usable_max_age_leaves_the_feed_to_the_next_run(store, settings, server, header):
    add(store, "plain", server.route("/plain", atom(), headers={"Cache-Control": header} if header else {}))
    assert collect_feed(store, settings, "plain").new == 1
    assert store.feed_state("plain").next_fetch_at is None
    assert collect_feed(store, settings, "plain").duplicates == 1  # due again at once: fetched
    assert paths(server) == ["/plain", "/plain"]


def test_rss_ttl_puts_off_the_next_check_and_is_remembered_across_304s(store, settings, server):
    add(store, "ttl", server.route("/ttl", rss("<ttl>120</ttl>"), etag='"v1"'))
    now = datetime.now(timezone.utc)
    assert collect_feed(store, settings, "ttl", now=now).new == 1
    expected = now + timedelta(minutes=115)  # 120, brought forward 5 minutes for runs that start early
    assert store.feed_state("ttl").next_fetch_at == expected
    assert collect_feed(store, settings, "ttl", now=now + timedelta(minutes=100)).skipped
    later = now + timedelta(minutes=116)
    assert collect_feed(store, settings, "ttl", now=later).not_modified  # a 304: no feed to read ttl from
    assert store.feed_state("ttl").next_fetch_at == later + timedelta(minutes=115)
    assert paths(server) == ["/ttl", "/ttl"]


def test_the_latest_of_max_age_and_ttl_wins(store, settings, server):
    add(store, "a", server.route("/a", rss("<ttl>60</ttl>"), headers={"Cache-Control": "max-age=10800"}))
    add(store, "b", server.route("/b", rss("<ttl>240</ttl>", n=2), headers={"Cache-Control": "max-age=60"}))
    now = datetime.now(timezone.utc)
    for feed_id in ("a", "b"):
        collect_feed(store, settings, feed_id, now=now)
    assert store.feed_state("a").next_fetch_at == now + timedelta(hours=3, minutes=-5)
    assert store.feed_state("b").next_fetch_at == now + timedelta(hours=4, minutes=-5)


SKIPS = "<skipHours><hour>10</hour><hour>11</hour><hour>12</hour></skipHours><skipDays><day>Sunday</day></skipDays>"
FRIDAY_9 = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)


def test_skip_hours_and_days_are_never_fetched_in(store, settings, server):
    add(store, "skips", server.route("/skips", rss(SKIPS)))
    assert collect_feed(store, settings, "skips", now=FRIDAY_9).new == 1
    state = store.feed_state("skips")
    assert (state.skip_hours, state.skip_days) == ([10, 11, 12], [6])
    assert state.next_fetch_at is None  # 9:00 is not skipped: due at the next run
    assert collect_feed(store, settings, "skips", now=FRIDAY_9.replace(hour=10, minute=30)).skipped
    assert collect_feed(store, settings, "skips", now=FRIDAY_9.replace(hour=12, minute=59)).skipped
    assert due_feeds(store, FRIDAY_9.replace(hour=11)) == []
    assert collect_feed(store, settings, "skips", now=FRIDAY_9.replace(hour=13)).duplicates == 1
    assert collect_feed(store, settings, "skips", now=FRIDAY_9 + timedelta(days=2)).skipped  # a Sunday
    assert paths(server) == ["/skips", "/skips"]


def test_a_ttl_that_ends_in_skipped_hours_moves_past_them(store, settings, server):
    add(store, "late", server.route("/late", rss("<ttl>90</ttl>" + SKIPS)))
    collect_feed(store, settings, "late", now=FRIDAY_9)  # due at 10:25, a skipped hour
    assert store.feed_state("late").next_fetch_at == FRIDAY_9.replace(hour=13)
    collect_feed(store, settings, "late", now=datetime(2026, 11, 28, 23, 0, tzinfo=timezone.utc))  # Saturday
    assert store.feed_state("late").next_fetch_at == datetime(2026, 11, 30, 0, 0, tzinfo=timezone.utc)  # Monday


def test_errors_back_off_exponentially_and_out_of_skipped_hours(store, settings, server):
    add(store, "flaky", server.route("/flaky", rss("<ttl>30</ttl>" + SKIPS)))
    collect_feed(store, settings, "flaky", now=FRIDAY_9)
    server.route("/flaky", status=500)
    waits = []
    for n in range(4):
        now = FRIDAY_9.replace(hour=14) + timedelta(days=n * 7)  # a Friday afternoon each time
        collect_feed(store, settings, "flaky", now=now, force=True)
        waits.append(store.feed_state("flaky").next_fetch_at - now)
    assert waits == [timedelta(minutes=15), timedelta(minutes=30), timedelta(hours=1), timedelta(hours=2)]
    now = FRIDAY_9.replace(hour=9, minute=50)  # the fifth failure's 4 hours would end at 13:50: fine
    collect_feed(store, settings, "flaky", now=now, force=True)
    assert store.feed_state("flaky").next_fetch_at == now + timedelta(hours=4)
    now = FRIDAY_9.replace(hour=7)  # the sixth's 8 hours end at 15:00; from 3:00 the 8 hours would end at 11
    collect_feed(store, settings, "flaky", now=now.replace(hour=3), force=True)
    assert store.feed_state("flaky").next_fetch_at == FRIDAY_9.replace(hour=13)


def test_schedule_rules():
    now = FRIDAY_9
    assert cache_max_age("max-age=60") == 60 and cache_max_age("s-maxage=60") is None
    assert cache_max_age("private, MAX-AGE=120, must-revalidate") == 120
    assert cache_max_age("no-store") is None and cache_max_age("max-age=1e9") is None
    assert cache_max_age("max-age=" + "9" * 5000) is None
    assert next_check(now) is None
    assert next_check(now, max_age=float("inf"), ttl_minutes=0) is None
    assert next_check(now, ttl_minutes=10**9) == now + HINT_MAX - timedelta(minutes=5)
    every_hour = range(24)
    assert not skipped(now, every_hour, ()) and next_check(now, skip_hours=every_hour) is None  # ignored
    assert not skipped(now, (), range(7))
    assert after_skips(now, [9], []) == now.replace(hour=10)
    assert after_skips(now.replace(minute=30), [9, 10], [5]) == now.replace(hour=11)
    assert after_skips(datetime(2026, 11, 28, 9, tzinfo=timezone.utc), [], [5, 6]) == datetime(
        2026, 11, 30, tzinfo=timezone.utc)


# -- paused, retired, moved -----------------------------------------------------------------


def test_a_feed_is_paused_after_max_failures_shown_with_its_error_and_resumed(store, settings, server, run):
    settings = settings.model_copy(update={"feed_max_failures": 3})
    add(store, "flaky", server.route("/flaky", status=500))
    add(store, "good", server.route("/good", atom()))
    for n in (1, 2):
        assert collect_feed(store, settings, "flaky", force=True).status == "active"
        assert store.get_feed("flaky").status == "active" and store.feed_state("flaky").error_count == n
    third = collect_feed(store, settings, "flaky", force=True)
    assert third.status == "paused" and "HTTP 500" in third.error
    feed = store.get_feed("flaky")
    assert feed.status == "paused" and feed.status_since is not None
    assert feed.status_reason.startswith("3 failures in a row, the last: ") and "HTTP 500" in feed.status_reason
    assert [r.feed_id for r in collect_all(store, settings, force=True)] == ["good"]  # paused: not even forced
    assert [f.id for f in due_feeds(store)] == ["good"]
    assert paths(server).count("/flaky") == 3
    single = collect_feed(store, settings, "flaky", force=True)
    assert single.skipped and single.error.startswith("paused since ") and "digest feeds resume flaky" in single.error
    listing = run("feeds", "ls").stdout
    assert f"flaky\t{server.url('/flaky')}\tlast ok never\tpaused since " in listing
    assert "3 failures in a row, the last: " in listing and "HTTP 500" in listing
    assert f"good\t{server.url('/good')}\tlast ok " in listing and "\tok" in listing

    server.route("/flaky", atom(2))  # fixed
    resumed = run("feeds", "resume", "flaky")
    assert resumed.returncode == 0 and "feed flaky resumed (was paused (3 failures" in resumed.stdout
    assert store.get_feed("flaky").status == "active" and store.feed_state("flaky").error_count == 0
    assert collect_feed(store, settings, "flaky").new == 1
    assert "flaky\t" in run("feeds", "ls").stdout and "paused" not in run("feeds", "ls").stdout
    assert "unknown feed: 'nothere'" in run("feeds", "resume", "nothere").stderr


def test_410_gone_retires_the_feed_for_good(store, settings, server, run):
    add(store, "gone", server.route("/gone", status=410))
    result = collect_feed(store, settings, "gone")
    assert result.status == "retired" and "HTTP 410" in result.error
    feed = store.get_feed("gone")
    assert feed.status == "retired" and "gone for good" in feed.status_reason
    assert collect_all(store, settings, force=True) == []
    assert collect_feed(store, settings, "gone", force=True).skipped
    assert paths(server) == ["/gone"]
    assert "\tretired since " in run("feeds", "ls").stdout


@pytest.mark.parametrize("status", [301, 308])
def test_a_permanent_redirect_moves_the_feed(store, settings, server, status):
    server.route("/new", atom())
    add(store, "moved", server.route("/old", status=status, headers={"Location": server.url("/new")}))
    result = collect_feed(store, settings, "moved")
    assert result.new == 1 and result.moved_to == server.url("/new")
    assert store.get_feed("moved").url == server.url("/new")
    assert collect_feed(store, settings, "moved", force=True).duplicates == 1
    assert paths(server) == ["/old", "/new", "/new"]  # the old address is not asked again


@pytest.mark.parametrize("status", [302, 303, 307])
def test_a_temporary_redirect_does_not_move_the_feed(store, settings, server, status):
    server.route("/today", atom())
    add(store, "hop", server.route("/feed", status=status, headers={"Location": server.url("/today")}))
    assert collect_feed(store, settings, "hop").moved_to is None
    assert store.get_feed("hop").url == server.url("/feed")


def test_only_the_permanent_start_of_a_redirect_chain_moves_the_feed(store, settings, server):
    server.route("/a", status=301, headers={"Location": server.url("/b")})
    server.route("/b", status=302, headers={"Location": server.url("/c")})
    server.route("/c", atom())
    add(store, "chain", server.url("/a"))
    assert collect_feed(store, settings, "chain").moved_to == server.url("/b")
    assert store.get_feed("chain").url == server.url("/b")


@pytest.mark.parametrize("target", ["missing", "not-a-feed", "refused"])
def test_a_permanent_redirect_to_somewhere_that_fails_moves_nothing(store, settings, server, target):
    other = FeedServer(host="127.0.0.2")
    try:
        server.route("/page", "<html><body>Hello</body></html>")
        location = {"missing": server.url("/missing"), "not-a-feed": server.url("/page"),
                    "refused": other.route("/feed", atom())}[target]
        add(store, "moved", server.route("/old", status=301, headers={"Location": location}))
        result = collect_feed(store, settings.model_copy(update={"fetch_allow_networks": "127.0.0.1/32"}), "moved")
    finally:
        other.close()
    assert result.error and result.moved_to is None
    assert store.get_feed("moved").url == server.url("/old")
    assert other.connections == 0


# -- per host, across processes -------------------------------------------------------------


class CountingServer:
    """Serves `body` on every path after `delay` s, recording each request's start, end and User-Agent."""

    def __init__(self, body: str, delay: float) -> None:
        self.log: list[tuple[float, float, str]] = []
        self.active = self.most = 0
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                start = time.monotonic()
                with lock:
                    outer.active += 1
                    outer.most = max(outer.most, outer.active)
                time.sleep(delay)
                with lock:
                    outer.active -= 1
                payload = body.replace("{path}", self.path).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/atom+xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                outer.log.append((start, time.monotonic(), self.headers.get("User-Agent", "")))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _collect_in_two_processes(settings, **env: str) -> list[subprocess.CompletedProcess[str]]:  # type: ignore[no-untyped-def]
    base = worker_env(settings, **env)
    procs = [subprocess.Popen([sys.executable, "-c", "from digest.cli import main; main()", "collect"],
                              env={**base, "FETCH_USER_AGENT": f"digest-test/{name}"},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in ("a", "b")]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        outcomes.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return outcomes


FEED_BY_PATH = ATOM.format(n="{path}", text=LONG_TEXT)


def test_the_per_host_cap_holds_across_two_processes(store, settings):
    server = CountingServer(FEED_BY_PATH, delay=0.3)
    try:
        for n in range(12):
            add(store, f"f{n}", server.url(f"/f{n}"))
        done = _collect_in_two_processes(settings, PER_HOST_CONCURRENCY="2", PER_HOST_DELAY="0",
                                         COLLECT_THREADS="8")
    finally:
        server.close()
    assert all(d.returncode == 0 for d in done), [d.stderr for d in done]
    assert len(server.log) == 24  # each process fetched every feed (force)
    assert server.most == 2  # never more at once, though each process had 8 threads
    a = [(start, end) for start, end, agent in server.log if agent.endswith("/a")]
    b = [(start, end) for start, end, agent in server.log if agent.endswith("/b")]
    # the two processes were fetching during the same time, competing for the two slots
    assert min(start for start, _ in a) < max(end for _, end in b)
    assert min(start for start, _ in b) < max(end for _, end in a)


def test_the_per_host_delay_holds_across_two_processes(store, settings):
    server = CountingServer(FEED_BY_PATH, delay=0.0)
    try:
        for n in range(4):
            add(store, f"f{n}", server.url(f"/f{n}"))
        done = _collect_in_two_processes(settings, PER_HOST_CONCURRENCY="8", PER_HOST_DELAY="0.4")
    finally:
        server.close()
    assert all(d.returncode == 0 for d in done), [d.stderr for d in done]
    starts = sorted(start for start, _, _ in server.log)
    assert len(starts) == 8 and {agent[-1] for _, _, agent in server.log} == {"a", "b"}
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 0.38, gaps  # 0.4 s apart on Redis's clock; a little slack for the server's threads


def test_a_host_slot_is_shared_by_threads_and_freed_by_its_lease(store):
    gate = HostGate(store, concurrency=1, delay=0.0, lease=0.5)
    inside: list[int] = []
    most = [0]

    def visit() -> None:
        with gate.slot("example.org", wait=10):
            inside.append(1)
            most[0] = max(most[0], len(inside))
            time.sleep(0.05)
            inside.pop()

    workers = [threading.Thread(target=visit) for _ in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert most[0] == 1
    assert store.take_host_slot("example.org", "dead-worker", 1, 0.0, 0.5) == 0.0  # taken, never freed
    with pytest.raises(HostBusy) as busy:
        with gate.slot("example.org", wait=0):
            pass
    assert 0 < busy.value.retry_after <= 0.5
    started = time.monotonic()
    with gate.slot("example.org", wait=5):
        assert 0.2 < time.monotonic() - started < 1.5  # the dead worker's lease ran out
    with gate.slot("other.example", wait=0):  # another host was never held up
        pass


# -- one slow host holds up no one -----------------------------------------------------------


def test_one_feed_that_dribbles_for_its_whole_deadline_holds_up_none_of_nine_fast_ones(store, settings, server):
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/atom+xml\r\nContent-Length: 100000\r\n\r\n"
    slow = DribbleServer(head, b"<" * 100000, head_at_once=True, interval=0.1, max_seconds=10)
    settings = settings.model_copy(update={"fetch_deadline": 3.0, "fetch_timeout": 5.0, "collect_threads": 4})
    try:
        add(store, "a-slow", slow.url())
        for n in range(9):
            add(store, f"fast-{n}", server.route(f"/fast-{n}", atom(n), delay=0.05))
        results: list = []
        started = time.monotonic()
        worker = threading.Thread(target=lambda: results.extend(collect_all(store, settings)))
        worker.start()
        while not all(store.feed_state(f"fast-{n}").last_ok_at for n in range(9)):
            assert time.monotonic() - started < 2.0, "the fast feeds waited for the slow one"
            time.sleep(0.02)
        fast_done = time.monotonic() - started
        worker.join(10)
        all_done = time.monotonic() - started
    finally:
        slow.close()
    assert fast_done < 1.5 and all_done >= 3.0  # the nine were in long before the slow one gave up
    by_id = {r.feed_id: r for r in results}
    assert "took longer than 3 s" in by_id["a-slow"].error
    assert all(by_id[f"fast-{n}"].new == 1 for n in range(9))
