"""Fetch a URL over HTTP, politely and safely: conditional GET, timeouts, a size cap
on the decoded body, redirects, a total deadline, per-host slots, and never a
private address.

These are the only client and fetch function the collector uses for ANY URL it
requests: feeds, article pages, feed discovery, OPML imports, images. feedparser
gets bytes from here and never does HTTP itself (its HTTP code is being removed
upstream).

`make_client(settings, gate=...)` builds the client: its transport
(digest.collect.guard) connects only to public addresses (or
FETCH_ALLOW_NETWORKS), checked on the resolved address of every connection,
redirect hops included, and it carries FETCH_DEADLINE, which `fetch_feed` applies
to the whole fetch (DNS lookups, connect, headers and body, across redirects). It ignores
proxy and .netrc settings from the environment (`trust_env=False`), so nothing
outside digest can route around the check. With a `HostGate`
(digest.collect.politeness) every fetch first takes one of its host's slots.

`fetch_feed` reads the body as it streams and decompresses it itself, never more
than `max_bytes` of decoded body: a gzip bomb (1 GB of zeros in 1 MB) stops at
the cap after decompressing at most `max_bytes` + one byte, never a whole chunk's
worth. Every failure, a refused address or a malformed URL included, is a
FetchError naming the URL.
"""

from __future__ import annotations

import contextlib
import email.utils
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import httpx

from digest.collect.guard import Deadline, GuardedTransport, Refused, ResolveTimeout, check_url, fetch_deadline
from digest.collect.politeness import HostGate, cache_max_age, host_of
from digest.config import Settings
from digest.errors import FetchError
from digest.samples import SCHEME as SAMPLE_SCHEME
from digest.samples import sample_feed, sample_name

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
# Only what `_decoder` can decompress within the cap (httpx would also offer br and
# zstd when their packages are installed, and decode them without a bound).
ACCEPT_ENCODING = "gzip, deflate"
# The longest Retry-After we honour; beyond it a feed is simply retried after a week.
RETRY_AFTER_MAX = 7 * 86400.0
# How long a fetch waits for a slot of its host by default (see FeedClient.host_wait).
HOST_WAIT = 30.0
PERMANENT_REDIRECTS = (301, 308)


@dataclass
class FetchResult:
    status: int
    final_url: str
    not_modified: bool = False
    content: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None  # the Content-Type header: its charset decides the decoding
    max_age: float | None = None  # Cache-Control max-age, seconds
    # Where the URL has moved for good: the target of the permanent redirects (301,
    # 308) that the fetch followed from the start, before any temporary one.
    moved_to: str | None = None


class FeedClient(httpx.Client):
    """An httpx.Client that knows its per-fetch deadline, its host gate and how long to wait for a slot."""

    def __init__(
        self, *, fetch_deadline: float | None, gate: HostGate | None = None, host_wait: float = HOST_WAIT,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.fetch_deadline = fetch_deadline
        self.gate = gate
        self.host_wait = host_wait


def make_client(settings: Settings, *, gate: HostGate | None = None, max_connections: int = 100) -> FeedClient:
    """The client for every request the collector makes (thread-safe: share one across threads)."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections,
                          keepalive_expiry=5.0)
    return FeedClient(
        fetch_deadline=settings.fetch_deadline,
        gate=gate,
        transport=GuardedTransport(settings.allowed_networks, limits=limits),
        trust_env=False,
        timeout=httpx.Timeout(settings.fetch_timeout),
        follow_redirects=True,
        max_redirects=settings.fetch_max_redirects,
        headers={"User-Agent": settings.fetch_user_agent, "Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODING},
    )


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header, at most RETRY_AFTER_MAX; None for garbage or the past."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), RETRY_AFTER_MAX)
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - time.time()
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if seconds <= 0:
        return None
    return min(seconds, RETRY_AFTER_MAX)


def fetch_feed(
    client: httpx.Client, url: str, *, etag: str | None = None, last_modified: str | None = None,
    max_bytes: int, host_wait: float | None = None, deadline: float | None = None,
) -> FetchResult:
    """GET `url` (any URL, not only feeds) within the client's deadline, at most `max_bytes` decoded.

    `host_wait`: how long to wait for a slot of the URL's host when the client has
    a gate (default: the client's `host_wait`); HostBusy when none came in time.
    `deadline`: seconds for this fetch when shorter than the client's (what is left
    of a budget that several fetches share).
    """
    if url.startswith(SAMPLE_SCHEME):  # a bundled sample (digest/samples): read, not fetched
        try:
            content, content_type = sample_feed(sample_name(url) or "", datetime.now(timezone.utc))
        except ValueError as exc:
            raise FetchError(str(exc)) from None
        return FetchResult(status=200, final_url=url, content=content, content_type=content_type)
    seconds = getattr(client, "fetch_deadline", None)
    if deadline is not None:
        seconds = deadline if seconds is None else min(seconds, deadline)
    try:
        target = httpx.URL(url)
        check_url(target)
        with _host_slot(client, target, host_wait), fetch_deadline(seconds) as ends:
            try:
                return _fetch(client, url, etag, last_modified, max_bytes, ends)
            except httpx.TimeoutException as exc:
                during = _during(exc)
                if ends.expired():
                    raise _too_long(url, ends, during) from None
                raise FetchError(f"{url}: timed out{during} ({type(exc).__name__})") from None
    except Refused as exc:
        raise FetchError(f"{url}: {exc}") from None
    except httpx.TooManyRedirects:
        raise FetchError(f"{url}: more than {client.max_redirects} redirects") from None
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        # InvalidURL and StreamError are not HTTPErrors; all three name the URL here.
        raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None


def _host_slot(client: httpx.Client, url: httpx.URL, wait: float | None) -> contextlib.AbstractContextManager[None]:
    gate: HostGate | None = getattr(client, "gate", None)
    if gate is None:
        return contextlib.nullcontext()
    return gate.slot(host_of(url), wait=getattr(client, "host_wait", HOST_WAIT) if wait is None else wait)


def _fetch(
    client: httpx.Client, url: str, etag: str | None, last_modified: str | None, max_bytes: int,
    deadline: Deadline,
) -> FetchResult:
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    with client.stream("GET", url, headers=headers) as response:
        final = str(response.url)
        moved_to = _moved_to(response)
        max_age = cache_max_age(response.headers.get("Cache-Control"))
        if response.status_code == 304:
            response.read()  # nothing, but reading it lets the connection be reused
            return FetchResult(304, final, not_modified=True, etag=etag, last_modified=last_modified,
                               max_age=max_age, moved_to=moved_to)
        if not 200 <= response.status_code < 300:
            # >= 400, or a redirect httpx could not follow (no Location, 300, 305)
            raise FetchError(
                f"{url}: HTTP {response.status_code} {response.reason_phrase}",
                retry_after=_retry_after(response.headers.get("Retry-After")), status=response.status_code,
            )
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise FetchError(f"{url}: {declared} bytes is over the {max_bytes}-byte cap")
        content = _read_capped(response, url, max_bytes, deadline)
        return FetchResult(
            response.status_code, final, content=content,
            etag=response.headers.get("ETag"), last_modified=response.headers.get("Last-Modified"),
            content_type=response.headers.get("Content-Type"), max_age=max_age, moved_to=moved_to,
        )


def _moved_to(response: httpx.Response) -> str | None:
    """The URL that the permanent redirects at the start of the chain lead to, if any."""
    hops = [*response.history, response]
    moved = None
    for hop, following in zip(hops, hops[1:], strict=False):
        if hop.status_code not in PERMANENT_REDIRECTS:
            break
        moved = str(following.url)
    return moved


def _read_capped(response: httpx.Response, url: str, max_bytes: int, deadline: Deadline) -> bytes:
    """The decoded body, or FetchError as soon as more than `max_bytes` of it was decoded."""
    decode = _decoder(response.headers.get("Content-Encoding"), url)
    body = bytearray()
    for raw in response.iter_raw():
        # One byte more than the room left is enough to know the cap is passed.
        body += decode(raw, max_bytes - len(body) + 1)
        if len(body) > max_bytes:
            raise FetchError(f"{url}: more than the {max_bytes}-byte cap"
                             + (" (decompressed)" if decode is not _identity else ""))
        if deadline.expired():  # the streams enforce it; this also covers already-buffered data
            raise _too_long(url, deadline)
    return bytes(body)


def _identity(data: bytes, limit: int) -> bytes:
    return data


class _Inflate:
    """zlib decompression that never yields more than `limit` bytes per call.

    zlib keeps the input it did not get to (`unconsumed_tail`); the caller stops
    at the cap before asking for it, so at most `limit` bytes are ever made.
    """

    def __init__(self, wbits: int, url: str) -> None:
        self._wbits, self._url = wbits, url
        self._z = zlib.decompressobj(wbits)
        self._started = False

    def __call__(self, data: bytes, limit: int) -> bytes:
        try:
            if not self._started and self._wbits == zlib.MAX_WBITS:
                try:
                    out = self._z.decompress(data, limit)
                except zlib.error:  # "deflate" sent without its zlib header, as some servers do
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    out = self._z.decompress(data, limit)
            else:
                out = self._z.decompress(data, limit)
        except zlib.error as exc:
            raise FetchError(f"{self._url}: the compressed body is corrupt ({exc})") from None
        self._started = True
        return out


def _decoder(content_encoding: str | None, url: str) -> Callable[[bytes, int], bytes]:
    """Decompression for the Content-Encoding, at most `limit` bytes a call; FetchError for one we did not ask for."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return _identity
    if encoding in ("gzip", "x-gzip"):
        return _Inflate(16 + zlib.MAX_WBITS, url)
    if encoding == "deflate":
        return _Inflate(zlib.MAX_WBITS, url)
    raise FetchError(f"{url}: unsupported Content-Encoding {encoding[:40]!r} (asked for {ACCEPT_ENCODING})")


def _too_long(url: str, deadline: Deadline, during: str = "") -> FetchError:
    return FetchError(f"{url}: took longer than {deadline.seconds:g} s (timeout{during})")


def _during(exc: httpx.TimeoutException) -> str:
    """What the fetch was waiting for when its time ran out, when it was not the server: its DNS lookup."""
    cause = exc.__cause__
    return f", while resolving {cause.host!r}" if isinstance(cause, ResolveTimeout) else ""
