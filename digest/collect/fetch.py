"""Fetch a feed over HTTP, politely and safely: conditional GET, timeouts, a size cap,
redirects, a total deadline, and never a private address.

feedparser gets bytes from here and never does HTTP itself (its HTTP code is
being removed upstream).

`make_client(settings)` is the only client to fetch feeds with: its transport
(digest.collect.guard) connects only to public addresses (or FETCH_ALLOW_NETWORKS),
checked on the resolved address of every connection, redirect hops included, and
it carries FETCH_DEADLINE, which `fetch_feed` applies to the whole fetch (connect,
headers and body, across redirects). It ignores proxy and .netrc settings from the
environment (`trust_env=False`), so nothing outside digest can route around the
check. Every failure, a refused address or a malformed URL included, is a
FetchError naming the URL.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from datetime import timezone

import httpx

from digest.collect.guard import Deadline, GuardedTransport, Refused, check_url, fetch_deadline
from digest.config import Settings
from digest.errors import FetchError

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
# The longest Retry-After we honour; beyond it a feed is simply retried after a week.
RETRY_AFTER_MAX = 7 * 86400.0


@dataclass
class FetchResult:
    status: int
    final_url: str
    not_modified: bool = False
    content: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None  # the Content-Type header: its charset decides the decoding


class FeedClient(httpx.Client):
    """An httpx.Client that knows its per-fetch deadline (seconds, None for none)."""

    def __init__(self, *, fetch_deadline: float | None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.fetch_deadline = fetch_deadline


def make_client(settings: Settings) -> FeedClient:
    return FeedClient(
        fetch_deadline=settings.fetch_deadline,
        transport=GuardedTransport(settings.allowed_networks),
        trust_env=False,
        timeout=httpx.Timeout(settings.fetch_timeout),
        follow_redirects=True,
        max_redirects=settings.fetch_max_redirects,
        headers={"User-Agent": settings.fetch_user_agent, "Accept": ACCEPT},
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
    client: httpx.Client, url: str, *, etag: str | None, last_modified: str | None, max_bytes: int,
) -> FetchResult:
    seconds = getattr(client, "fetch_deadline", None)
    try:
        check_url(httpx.URL(url))
        with fetch_deadline(seconds) as deadline:
            try:
                return _fetch(client, url, etag, last_modified, max_bytes, deadline)
            except httpx.TimeoutException as exc:
                if deadline.expired():
                    raise _too_long(url, deadline) from None
                raise FetchError(f"{url}: timed out ({type(exc).__name__})") from None
    except Refused as exc:
        raise FetchError(f"{url}: {exc}") from None
    except httpx.TooManyRedirects:
        raise FetchError(f"{url}: more than {client.max_redirects} redirects") from None
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        # InvalidURL and StreamError are not HTTPErrors; all three name the URL here.
        raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None


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
        if response.status_code == 304:
            return FetchResult(304, final, not_modified=True, etag=etag, last_modified=last_modified)
        if response.status_code >= 400:
            raise FetchError(
                f"{url}: HTTP {response.status_code} {response.reason_phrase}",
                retry_after=_retry_after(response.headers.get("Retry-After")),
            )
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise FetchError(f"{url}: {declared} bytes is over the {max_bytes}-byte cap")
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(f"{url}: more than the {max_bytes}-byte cap")
            if deadline.expired():  # the streams enforce it; this also covers already-buffered data
                raise _too_long(url, deadline)
            chunks.append(chunk)
        return FetchResult(
            response.status_code, final, content=b"".join(chunks),
            etag=response.headers.get("ETag"), last_modified=response.headers.get("Last-Modified"),
            content_type=response.headers.get("Content-Type"),
        )


def _too_long(url: str, deadline: Deadline) -> FetchError:
    return FetchError(f"{url}: took longer than {deadline.seconds:g} s (timeout)")
