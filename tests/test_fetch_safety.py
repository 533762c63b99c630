"""The collector never fetches a private address, and no fetch runs long.

Through the real path: loopback feed servers, the real collector and the real
store. Loopback is refused here unless a test allows it (FETCH_ALLOW_NETWORKS),
so "the server saw no connection" proves the guard stopped the fetch, in every
spelling of the address and on every redirect hop. Non-loopback addresses are
only ever refused before connecting: `no_outside_connections` replaces httpcore's
socket-level connect, so even a broken guard could not send traffic off this machine.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpcore
import pytest

from digest.collect import guard
from digest.collect.collector import collect_all, collect_feed
from digest.collect.fetch import RETRY_AFTER_MAX, _retry_after, fetch_feed, make_client
from digest.collect.guard import address_allowed
from digest.errors import FetchError
from digest.store import Store
from tests.factories import add_feed as add
from tests.feedserver import DribbleServer, FeedServer

ATOM = """<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Orbit</title>
<id>tag:o</id><updated>2026-11-22T10:00:00Z</updated><entry><title>Probe lands on Mars</title><id>tag:o:1</id>
<link href="https://orbit.example/mars"/><published>2026-11-22T09:30:00-05:00</published>
<content type="html">&lt;p&gt;Touchdown.&lt;/p&gt;</content></entry></feed>"""

NOT_PUBLIC = "is not a public address"


@pytest.fixture
def server6():
    """The same kind of server on ::1, for the IPv6 spellings."""
    try:
        s = FeedServer(host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    yield s
    s.close()


@pytest.fixture
def server2():
    """A second server on another loopback address, 127.0.0.2."""
    s = FeedServer(host="127.0.0.2")
    yield s
    s.close()


@pytest.fixture
def no_outside_connections(monkeypatch):
    """httpcore's real connect, allowed to reach loopback only; anything else fails the test."""
    attempts: list[str] = []
    real = httpcore.SyncBackend.connect_tcp

    def connect_tcp(self, host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        attempts.append(host)
        ip = ipaddress.ip_address(host.split("%")[0])
        if not ip.is_loopback and not (ip.version == 6 and ip.ipv4_mapped and ip.ipv4_mapped.is_loopback):
            raise AssertionError(f"the collector tried to connect to {host}")
        return real(self, host, port, *args, **kwargs)

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", connect_tcp)
    return attempts


def strict(settings):  # type: ignore[no-untyped-def]
    """The production default: nothing but public addresses."""
    return settings.model_copy(update={"fetch_allow_networks": ""})


def allow(settings, networks: str):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"fetch_allow_networks": networks})


def articles(store: Store) -> list:
    return store.articles_between(datetime(2000, 1, 1, tzinfo=timezone.utc), datetime(2100, 1, 1, tzinfo=timezone.utc))


def fetch(settings, url: str):  # type: ignore[no-untyped-def]
    with make_client(settings) as client:
        return fetch_feed(client, url, etag=None, last_modified=None, max_bytes=settings.fetch_max_bytes)


# Every spelling of this machine's loopback that the test servers answer on.
LOOPBACK_SPELLINGS = {
    "localhost": "localhost",
    "short": "127.1",
    "decimal": "2130706433",
    "hex": "0x7f.1",
    "unspecified": "0.0.0.0",
    "mapped": "[::ffff:127.0.0.1]",
    "mapped-hex": "[::ffff:7f00:1]",
}


# -- the SSRF matrix --------------------------------------------------------------


@pytest.mark.parametrize("spelling", sorted(LOOPBACK_SPELLINGS))
def test_each_loopback_spelling_reaches_the_server_when_loopback_is_allowed(store, settings, server, spelling):
    """The control for the matrix below: these URLs really do lead to the test server."""
    add(store, "feed", server.route("/feed", ATOM).replace("127.0.0.1", LOOPBACK_SPELLINGS[spelling]))
    settings = allow(settings, settings.fetch_allow_networks + ",0.0.0.0/32")  # 0.0.0.0 is no loopback network
    assert collect_feed(store, settings, "feed").new == 1
    assert [path for path, _ in server.requests] == ["/feed"]


def test_ipv6_loopback_reaches_its_server_when_allowed(store, settings, server6):
    add(store, "feed", server6.route("/feed", ATOM))
    assert collect_feed(store, settings, "feed").new == 1


def test_no_spelling_of_loopback_is_fetched_or_even_connected_to(store, settings, server, server6):
    settings = strict(settings)
    server.route("/feed", ATOM)
    server6.route("/feed", ATOM)
    urls = {f"s-{name}": server.url("/feed", host) for name, host in LOOPBACK_SPELLINGS.items()}
    urls.update({
        "plain": server.url("/feed"),
        "ipv6": server6.url("/feed"),
        "octal": server.url("/feed", "0177.0.0.1"),  # httpx refuses to parse it: still a FetchError
        "credentials": server.url("/feed", "user:pass@127.0.0.1"),
        "credentials-allowed-host": server.url("/feed", "user:pass@localhost"),
    })
    for feed_id, url in urls.items():
        add(store, feed_id, url)
    started = time.monotonic()
    results = {r.feed_id: r for r in collect_all(store, settings)}
    assert time.monotonic() - started < 5
    for feed_id, url in urls.items():
        error = results[feed_id].error
        assert error and error.startswith(url), (feed_id, error)
        assert store.feed_state(feed_id).error == error
        assert store.feed_state(feed_id).next_fetch_at is not None
    for feed_id in urls:
        if feed_id == "octal":
            assert "InvalidURL" in results[feed_id].error
        elif feed_id.startswith("credentials"):
            assert "user:pass@" in results[feed_id].error.split(": ", 1)[1]
        else:
            assert NOT_PUBLIC in results[feed_id].error, feed_id
    assert server.requests == [] and server.connections == 0
    assert server6.requests == [] and server6.connections == 0
    assert articles(store) == []


def test_credentials_in_the_url_are_refused_even_on_an_allowed_address(store, settings, server):
    add(store, "creds", server.route("/feed", ATOM).replace("http://", "http://user:pass@"))
    assert "user:pass@" in collect_feed(store, settings, "creds").error
    assert server.connections == 0


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "ftp://127.0.0.1:21/feed.xml", "gopher://127.0.0.1:70/", "javascript:alert(1)",
    "", "http:///feed.xml", "http://[::1/feed.xml", "http://0177.0.0.1/feed.xml", "http://" + "a" * 70 + "/",
])
def test_other_schemes_and_malformed_urls_are_fetch_errors_naming_the_url(settings, url, no_outside_connections):
    with pytest.raises(FetchError) as caught:
        fetch(strict(settings), url)
    assert str(caught.value).startswith(f"{url}: ")
    assert no_outside_connections == []


@pytest.mark.parametrize("host", [
    "169.254.169.254",  # cloud metadata
    "[fd00:ec2::254]",  # AWS metadata over IPv6
    "10.0.0.1", "172.16.0.1", "192.168.1.1", "100.64.0.1",  # private, CGNAT
    "0", "[::]", "224.0.0.1", "255.255.255.255", "[fe80::1]", "[fc00::1]", "240.0.0.1",
    "[::ffff:169.254.169.254]", "[::ffff:10.0.0.1]",  # IPv4-mapped
    "[64:ff9b::a9fe:a9fe]",  # NAT64 of the metadata service
    "[2002:a00:1::]",  # 6to4 of 10.0.0.1
])
def test_private_and_metadata_addresses_are_refused_before_any_connection(
    store, settings, host, no_outside_connections,
):
    add(store, "inside", f"http://{host}/latest/meta-data/")
    started = time.monotonic()
    result = collect_feed(store, strict(settings), "inside")
    assert time.monotonic() - started < 1
    assert NOT_PUBLIC in result.error and "not allowed" in result.error
    assert store.feed_state("inside").error == result.error
    assert no_outside_connections == [] and articles(store) == []


def test_a_closed_and_an_open_private_port_look_the_same(settings, server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens once it is closed
    errors = []
    for port in (server.port, closed):
        with pytest.raises(FetchError) as caught:
            fetch(strict(settings), f"http://127.0.0.1:{port}/feed")
        errors.append(str(caught.value).replace(str(port), "PORT"))
    assert errors[0] == errors[1] and NOT_PUBLIC in errors[0]
    assert server.connections == 0


def test_address_rules(no_outside_connections):
    loopback = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
    public_ones = ("93.184.216.34", "2606:4700::1111", "::ffff:93.184.216.34", "64:ff9b::5db8:d822", "2002:5db8:d822::")
    for public in public_ones:
        assert address_allowed(ipaddress.ip_address(public)), public
    for private in ("127.0.0.1", "::1", "::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::", "::7f00:1",
                    "169.254.169.254", "192.0.2.1", "198.18.0.1", "0.0.0.0", "::", "ff02::1", "fec0::1",
                    "2001:db8::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2"):
        assert not address_allowed(ipaddress.ip_address(private)), private
    assert address_allowed(ipaddress.ip_address("127.0.0.5"), loopback)
    assert address_allowed(ipaddress.ip_address("::ffff:127.0.0.1"), loopback)
    assert not address_allowed(ipaddress.ip_address("10.0.0.1"), loopback)
    assert no_outside_connections == []


# -- DNS: checked on the address connected to, resolved once ------------------------


@pytest.fixture
def fake_dns(monkeypatch):
    """Names under .example resolve to what the test says; everything else as usual."""
    answers: dict[str, list[list[str]]] = {}
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(host, str) and host.endswith(".example"):
            asked.append(host)
            ips = answers[host][min(len(asked), len(answers[host])) - 1]
            return [(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                     (ip, port, 0, 0) if ":" in ip else (ip, port)) for ip in ips]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, asked


def test_the_vetted_address_is_the_one_connected_to(store, settings, server, fake_dns, no_outside_connections):
    """Rebinding: the name answers 127.0.0.1 when checked, then 10.0.0.1; we connect to the first."""
    answers, asked = fake_dns
    answers["feeds.example"] = [["127.0.0.1"], ["10.0.0.1"]]
    add(store, "named", server.route("/feed", ATOM).replace("127.0.0.1", "feeds.example"))
    settings = settings.model_copy(update={"fulltext_max_pages": 0})  # the feed's lookups only, not its page's
    assert collect_feed(store, settings, "named").new == 1
    assert asked == ["feeds.example"]  # resolved once, by the guard
    assert no_outside_connections == ["127.0.0.1"]
    assert server.requests[0][1]["Host"] == f"feeds.example:{server.port}"  # the name, not the IP


def test_a_name_with_any_private_answer_is_refused(store, settings, server, fake_dns, no_outside_connections):
    answers, _ = fake_dns
    answers["mixed.example"] = [["93.184.216.34", "10.0.0.1"]]
    answers["inside.example"] = [["169.254.169.254"]]
    add(store, "mixed", "http://mixed.example/feed")
    add(store, "inside", "http://inside.example/feed")
    results = {r.feed_id: r.error for r in collect_all(store, strict(settings))}
    assert "mixed.example (10.0.0.1) is not a public address" in results["mixed"]
    assert "inside.example (169.254.169.254) is not a public address" in results["inside"]
    assert no_outside_connections == []


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_checks_the_name_while_connecting_to_the_vetted_ip(settings, fake_dns, tmp_path, monkeypatch):
    answers, _ = fake_dns
    answers["feeds.example"] = [["127.0.0.1"]]
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=feeds.example", "-addext", "subjectAltName=DNS:feeds.example"],
        check=True, capture_output=True, timeout=60,
    )
    names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)  # type: ignore[assignment,func-returns-value]
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    port = listener.getsockname()[1]

    def serve_one() -> None:
        try:
            conn, _ = listener.accept()
            conn.settimeout(10)
            with context.wrap_socket(conn, server_side=True) as tls:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += tls.recv(4096) or b"\r\n\r\n"
                body = ATOM.encode()
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/atom+xml\r\nConnection: close\r\n"
                            b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        except OSError:
            pass

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust the test certificate (read by make_client)
    try:
        result = fetch(settings, f"https://feeds.example:{port}/feed")
    finally:
        listener.close()
        thread.join(10)
    assert result.status == 200 and b"Probe lands on Mars" in (result.content or b"")
    assert names == ["feeds.example"]


# -- redirects ------------------------------------------------------------------------


@pytest.mark.parametrize("origin_host, target", [
    ("127.0.0.1", "second"),  # to 127.0.0.2
    ("127.0.0.1", "ipv6"),  # to [::1]
    ("127.0.0.1", "mapped"),  # to [::ffff:127.0.0.2]
    ("127.0.0.2", "localhost"),  # to http://localhost:PORT/ (127.0.0.1)
    ("127.0.0.2", "decimal"),  # to http://2130706433:PORT/ (127.0.0.1)
])
@pytest.mark.parametrize("status", [301, 302])
def test_a_redirect_to_a_refused_address_is_not_followed(store, settings, origin_host, target, status, server6):
    origin = FeedServer(host=origin_host)
    other = {"127.0.0.1": FeedServer(host="127.0.0.2"), "127.0.0.2": FeedServer()}[origin_host]
    try:
        destination = {
            "second": other.url("/feed"),
            "ipv6": server6.url("/feed"),
            "mapped": other.url("/feed", "[::ffff:127.0.0.2]"),
            "localhost": other.url("/feed", "localhost"),
            "decimal": other.url("/feed", "2130706433"),
        }[target]
        other.route("/feed", ATOM)
        server6.route("/feed", ATOM)
        add(store, "moved", origin.route("/old", status=status, headers={"Location": destination}))
        result = collect_feed(store, allow(settings, f"{origin_host}/32"), "moved")
        assert NOT_PUBLIC in result.error and result.error.startswith(origin.url("/old"))
        assert [path for path, _ in origin.requests] == ["/old"]
        assert other.connections == 0 and server6.connections == 0
        assert articles(store) == []
    finally:
        origin.close()
        other.close()


def test_a_redirect_to_an_allowed_address_still_works(store, settings, server, server2):
    server2.route("/feed", ATOM)
    add(store, "moved", server.route("/old", status=302, headers={"Location": server2.url("/feed")}))
    add(store, "local", server.route("/here", status=301, headers={"Location": server.url("/new")}))
    server.route("/new", ATOM)
    settings = allow(settings, "127.0.0.1/32,127.0.0.2/32")
    assert collect_feed(store, settings, "moved").new == 1
    assert [path for path, _ in server2.requests] == ["/feed"]
    assert collect_feed(store, allow(settings, "127.0.0.1/32"), "local").error is None


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://127.0.0.1/feed", "http://user:pass@{host}/feed"])
def test_a_redirect_to_another_scheme_or_to_credentials_is_refused(store, settings, server, location):
    server.route("/feed", ATOM)
    location = location.format(host=f"127.0.0.1:{server.port}")
    add(store, "moved", server.route("/old", status=302, headers={"Location": location}))
    result = collect_feed(store, settings, "moved")
    assert result.error and result.error.startswith(server.url("/old"))
    assert [path for path, _ in server.requests] == ["/old"]


# -- the total deadline ------------------------------------------------------------------

HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: application/atom+xml\r\nContent-Length: %d\r\n"
        b"Connection: close\r\n\r\n" % len(ATOM))


def test_servers_that_dribble_are_cut_at_the_deadline_and_the_others_are_collected(store, settings, server):
    drip_body = DribbleServer(HEAD, ATOM.encode(), head_at_once=True, interval=0.2)  # ~100 s of body
    drip_head = DribbleServer(HEAD + ATOM.encode(), interval=0.2)  # the status line a byte at a time
    try:
        add(store, "drip-body", drip_body.url())
        add(store, "drip-head", drip_head.url())
        add(store, "good", server.route("/good", ATOM))
        # Each read is well within FETCH_TIMEOUT: only the deadline can stop them.
        settings = settings.model_copy(update={"fetch_deadline": 1.5, "fetch_timeout": 5.0})
        started = time.monotonic()
        results = {r.feed_id: r for r in collect_all(store, settings)}
        elapsed = time.monotonic() - started
    finally:
        drip_body.close()
        drip_head.close()
    for feed_id in ("drip-body", "drip-head"):
        assert "took longer than 1.5 s" in results[feed_id].error, results[feed_id].error
        assert store.feed_state(feed_id).error == results[feed_id].error
    assert drip_body.requests and drip_head.requests
    assert len(HEAD) < drip_body.sent < len(HEAD) + 20  # it really was sending, slowly
    assert 2 < drip_head.sent < len(HEAD)  # still in the status line and headers
    assert results["good"].new == 1 and results["good"].error is None
    assert 1.5 <= elapsed < 3.0  # the two deadlines ran side by side, and nothing waited for them
    assert [a.title for a in articles(store)] == ["Probe lands on Mars"]


def test_the_deadline_covers_redirect_hops_together(store, settings):
    slow = FeedServer()
    try:
        slow.route("/a", status=302, headers={"Location": slow.url("/b")}, delay=0.6)
        slow.route("/b", status=302, headers={"Location": slow.url("/c")}, delay=0.6)
        slow.route("/c", ATOM, delay=0.6)
        add(store, "hops", slow.url("/a"))
        settings = settings.model_copy(update={"fetch_deadline": 1.0, "fetch_timeout": 5.0})
        result = collect_feed(store, settings, "hops")
    finally:
        slow.close()
    assert "took longer than 1 s" in result.error


@pytest.fixture
def slow_dns(monkeypatch):
    """Names under .example answer (127.0.0.1) only once the test lets them: a hostile domain's slow
    name servers. The guard's one lookup function is replaced; nothing is asked of any real resolver."""
    asked: list[str] = []
    answered: list[str] = []
    answer = threading.Event()

    def resolve_name(host, port):  # type: ignore[no-untyped-def]
        asked.append(host)
        answer.wait(10)
        answered.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(guard, "resolve_name", resolve_name)
    yield asked, answered
    answer.set()  # the lookup left behind ends now


def test_a_slow_dns_lookup_counts_against_the_fetch_deadline(store, settings, slow_dns, no_outside_connections):
    add(store, "slow-dns", "http://feeds.slow-dns.example/feed")
    settings = settings.model_copy(update={"fetch_deadline": 1.0, "fetch_timeout": 5.0})
    result = collect_feed(store, settings, "slow-dns")
    assert result.error == ("http://feeds.slow-dns.example/feed: took longer than 1 s "
                            "(timeout, while resolving 'feeds.slow-dns.example')")
    state = store.feed_state("slow-dns")
    assert state.error == result.error and state.error_count == 1
    asked, answered = slow_dns
    assert asked == ["feeds.slow-dns.example"] and answered == []  # the fetch did not wait for the answer
    assert no_outside_connections == []


def test_a_slow_dns_lookup_is_cut_at_the_connect_timeout_when_that_comes_first(settings, slow_dns):
    settings = settings.model_copy(update={"fetch_deadline": 30.0, "fetch_timeout": 0.5})
    with make_client(settings) as client, pytest.raises(FetchError) as failed:
        fetch_feed(client, "http://feeds.slow-dns.example/feed", max_bytes=1000)
    assert str(failed.value) == ("http://feeds.slow-dns.example/feed: timed out, while resolving "
                                 "'feeds.slow-dns.example' (ConnectTimeout)")


def test_a_slow_read_under_the_deadline_is_still_a_per_read_timeout(store, settings, server):
    add(store, "slow", server.route("/slow", ATOM, delay=1.0))
    result = collect_feed(store, settings.model_copy(update={"fetch_timeout": 0.3, "fetch_deadline": 30}), "slow")
    assert "timed out (ReadTimeout)" in result.error


# -- Retry-After --------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["999999999999", "Fri, 31 Dec 9999 23:59:59 GMT", "Sun, 06 Nov 2994 08:49:37 GMT"])
def test_a_huge_retry_after_is_capped(store, settings, server, value):
    add(store, "busy", server.route("/busy", status=503, headers={"Retry-After": value}))
    before = datetime.now(timezone.utc)
    result = collect_feed(store, settings, "busy")
    assert "HTTP 503" in result.error
    state = store.feed_state("busy")
    assert state.error == result.error
    assert before < state.next_fetch_at <= before + timedelta(seconds=RETRY_AFTER_MAX, minutes=1)


@pytest.mark.parametrize("value", [
    "-5", "soon", "1e9", "²", "Fri, 31 Dec 1999 23:59:59 GMT", "Mon, 99 Foo 12345 99:99:99",
])
def test_negative_past_and_garbage_retry_after_are_ignored(store, settings, server, value):
    assert _retry_after(value) is None
    add(store, "busy", server.route("/busy", status=429, headers={"Retry-After": value}))
    result = collect_feed(store, settings, "busy")
    state = store.feed_state("busy")
    assert "HTTP 429" in result.error and state.next_fetch_at - state.last_fetched_at <= timedelta(hours=1)


def test_retry_after_values():
    assert _retry_after("120") == 120.0
    assert _retry_after(" 120 ") == 120.0
    assert _retry_after("999999999999") == RETRY_AFTER_MAX == 7 * 86400
    assert _retry_after(None) is None and _retry_after("") is None
    soon = datetime.now(timezone.utc) + timedelta(hours=1)
    assert 3500 < (_retry_after(soon.strftime("%a, %d %b %Y %H:%M:%S GMT")) or 0) <= 3600


# -- Celery time limits ---------------------------------------------------------------------


def test_the_collect_task_has_time_limits_above_the_deadline_and_below_the_visibility_timeout():
    from digest import tasks
    from digest.celery_app import collect_time_limits

    settings = tasks.settings
    soft, hard = collect_time_limits(settings)
    assert (tasks.collect.soft_time_limit, tasks.collect.time_limit) == (soft, hard)
    assert settings.fetch_deadline < soft < hard < settings.visibility_timeout
    assert tasks.collect.acks_on_failure_or_timeout  # a timed-out collection is not redelivered
    assert tasks.app.amqp.router.route({}, "digest.collect")["queue"].name == "collect"
    assert tasks.app.amqp.router.route({}, "digest.send_batch")["queue"].name == "send"


def test_a_visibility_timeout_shorter_than_a_collection_is_reported_at_start_up(settings, caplog):
    from digest.celery_app import check_visibility_timeout, make_celery

    assert check_visibility_timeout(settings) is None  # defaults: 3600 s against 210 s
    short = settings.model_copy(update={"visibility_timeout": 100})
    with caplog.at_level("WARNING", logger="digest.celery_app"):
        make_celery(short)
    assert "VISIBILITY_TIMEOUT (100 s) is not longer than a feed collection's time limit (210 s" in caplog.text


# -- the decoded body is capped while it streams -----------------------------------------------


class StreamServer:
    """Answers each request with `head`, then whatever `body()` yields, as fast as the client
    reads, until the client hangs up (or close()). Counts the bytes it got onto the wire."""

    def __init__(self, head: bytes, body) -> None:  # type: ignore[no-untyped-def]
        self.head, self.body, self.sent = head, body, 0
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str = "/feed") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(4096) or b"\r\n\r\n"
                conn.sendall(self.head)
                for chunk in self.body():
                    if self._stop.is_set():
                        return
                    conn.sendall(chunk)
                    self.sent += len(chunk)
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._sock.close()


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """1 GiB of zeros, gzip-compressed: about 1 MB on the wire."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    return b"".join([*(packer.compress(zeros) for _ in range(1024)), packer.flush()])


def _pieces(data: bytes, size: int = 65536):  # type: ignore[no-untyped-def]
    return lambda: (data[i : i + size] for i in range(0, len(data), size))


GZIP_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Encoding: gzip\r\n"
             b"Connection: close\r\n\r\n")

# Fetches `url` in a fresh interpreter and reports its memory: VmRSS before the fetch and
# VmHWM (the peak) after. `digest` fetches through digest's fetch_feed; `httpx` reads the
# same body with httpx's own decoder and the same cap check, the control showing the bomb is real.
MEMORY_PROBE = """
import json, sys
import httpx
from digest.collect.fetch import fetch_feed, make_client
from digest.config import Settings
from digest.errors import FetchError

def mb(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith(field))

url, how, cap = sys.argv[1], sys.argv[2], int(sys.argv[3])
settings = Settings(_env_file=None, fetch_allow_networks="127.0.0.0/8", fetch_deadline=30)
client = make_client(settings)
error, before = None, mb("VmRSS:")
if how == "digest":
    try:
        fetch_feed(client, url, max_bytes=cap)
    except FetchError as exc:
        error = str(exc)
else:
    size = 0
    with httpx.Client() as plain, plain.stream("GET", url) as response:
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > cap:
                error = f"over the cap after {size} bytes"
                break
print(json.dumps({"error": error, "before": before, "peak": mb("VmHWM:")}))
"""


def _probe(url: str, how: str, cap: int) -> dict:
    done = subprocess.run([sys.executable, "-c", MEMORY_PROBE, url, how, str(cap)], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_a_gzip_bomb_stops_at_the_cap_without_holding_hundreds_of_mb(gzip_bomb):
    cap = 5 * 1024 * 1024
    bomb = StreamServer(GZIP_HEAD, _pieces(gzip_bomb))
    try:
        control = _probe(bomb.url(), "httpx", cap)
        ours = _probe(bomb.url(), "digest", cap)
    finally:
        bomb.close()
    # The control: decoding a 64 KB read of this body at once makes ~64 MB.
    assert control["error"] and control["peak"] - control["before"] > 50, control
    assert ours["error"] == f"{bomb.url()}: more than the {cap}-byte cap (decompressed)"
    assert ours["peak"] - ours["before"] < 3 * cap / 2**20 + 8, ours  # the capped body, twice, and change


def test_a_gzip_bomb_is_an_error_of_its_feed_and_the_others_are_collected(store, settings, server, gzip_bomb):
    bomb = StreamServer(GZIP_HEAD, _pieces(gzip_bomb))
    try:
        add(store, "bomb", bomb.url())
        add(store, "good", server.route("/good", ATOM))
        results = {r.feed_id: r for r in collect_all(store, settings.model_copy(update={"fetch_max_bytes": 2**20}))}
    finally:
        bomb.close()
    assert results["bomb"].error == f"{bomb.url()}: more than the 1048576-byte cap (decompressed)"
    assert results["good"].new == 1


@pytest.mark.parametrize("chunked", [False, True])
def test_an_endless_body_stops_at_the_cap(settings, chunked):
    piece = b"<item><title>again</title></item>" * 1000
    framing = b"Transfer-Encoding: chunked\r\n" if chunked else b""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n" + framing + b"Connection: close\r\n\r\n"
    frame = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
    endless = StreamServer(head, lambda: itertools.repeat(frame))
    started = time.monotonic()
    try:
        with pytest.raises(FetchError, match=r"more than the 200000-byte cap$"):
            with make_client(settings) as client:
                fetch_feed(client, endless.url(), max_bytes=200_000)
    finally:
        endless.close()
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate", "raw-deflate"])
def test_compressed_feeds_are_read(store, settings, server, encoding):
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS,
             "raw-deflate": -zlib.MAX_WBITS}[encoding]
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    body = packer.compress(ATOM.encode()) + packer.flush()
    header = "deflate" if encoding == "raw-deflate" else encoding
    add(store, "packed", server.route("/packed", body, headers={"Content-Encoding": header}))
    assert collect_feed(store, settings, "packed").new == 1
    assert server.requests[0][1]["Accept-Encoding"] == "gzip, deflate"


@pytest.mark.parametrize("header, expect", [
    ("br", "unsupported Content-Encoding 'br'"),
    ("gzip, br", "unsupported Content-Encoding 'gzip, br'"),
    ("gzip", "the compressed body is corrupt"),
])
def test_an_encoding_we_did_not_ask_for_or_a_corrupt_body_is_an_error(store, settings, server, header, expect):
    add(store, "odd", server.route("/odd", ATOM, headers={"Content-Encoding": header}))
    assert expect in collect_feed(store, settings, "odd").error


# -- XML entities stay unexpanded ----------------------------------------------------------------

LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>Laughs &lol9;</title><item><title>A billion &lol9;</title>
<link>https://laughs.example/1</link><description>Text &lol9; more text.</description></item></channel></rss>"""

EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY file SYSTEM "file:///etc/passwd"><!ENTITY web SYSTEM "{web}">]>
<rss version="2.0"><channel><title>Outside</title><item><title>Secrets &file;</title>
<link>https://outside.example/1</link><description>one &file; two &web; three</description></item></channel></rss>"""


def test_entity_expansion_and_external_entities_are_refused(store, settings, server):
    add(store, "laughs", server.route("/laughs", LAUGHS))
    add(store, "outside", server.route("/outside", EXTERNAL.format(web=server.url("/entity"))))
    settings = settings.model_copy(update={"fulltext_max_pages": 0})
    started = time.monotonic()
    results = {r.feed_id: r for r in collect_all(store, settings, force=True)}
    assert time.monotonic() - started < 5
    kept = articles(store)
    for article in kept:
        assert len(article.title) < 100 and len(article.summary_text) < 200, article
        assert "lollol" not in article.title + article.summary_text
        assert "root:" not in article.title + article.summary_text
    assert len(kept) <= 2 and all(r.new <= 1 for r in results.values())
    assert "/entity" not in [path for path, _ in server.requests]  # the external entity was never fetched


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_a_redirect_with_a_gzip_bomb_for_a_body_is_followed_without_reading_it(server, gzip_bomb):
    """httpx reads a redirect's whole body, decoded, before it follows it: the guard's transport drops it."""
    target = server.route("/feed", ATOM)
    head = (b"HTTP/1.1 301 Moved Permanently\r\nLocation: " + target.encode() + b"\r\nContent-Encoding: gzip\r\n"
            b"Content-Type: text/html\r\nConnection: close\r\n\r\n")
    bomb = StreamServer(head, _pieces(gzip_bomb))
    try:
        ours = _probe(bomb.url(), "digest", 5 * 1024 * 1024)
    finally:
        bomb.close()
    assert ours["error"] is None
    assert ours["peak"] - ours["before"] < 20, ours
