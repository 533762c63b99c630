"""Fetch a feed over HTTP, politely: conditional GET, timeouts, a size cap, redirects.

feedparser gets bytes from here and never does HTTP itself (its HTTP code is
being removed upstream).
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass

import httpx

from digest.config import Settings
from digest.errors import FetchError

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


@dataclass
class FetchResult:
    status: int
    final_url: str
    not_modified: bool = False
    content: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None  # the Content-Type header: its charset decides the decoding


def make_client(settings: Settings) -> httpx.Client:
    return httpx.Client(
        timeout=httpx.Timeout(settings.fetch_timeout),
        follow_redirects=True,
        max_redirects=settings.fetch_max_redirects,
        headers={"User-Agent": settings.fetch_user_agent, "Accept": ACCEPT},
    )


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def fetch_feed(
    client: httpx.Client, url: str, *, etag: str | None, last_modified: str | None, max_bytes: int,
) -> FetchResult:
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
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
                chunks.append(chunk)
            return FetchResult(
                response.status_code, final, content=b"".join(chunks),
                etag=response.headers.get("ETag"), last_modified=response.headers.get("Last-Modified"),
                content_type=response.headers.get("Content-Type"),
            )
    except httpx.TooManyRedirects:
        raise FetchError(f"{url}: more than {client.max_redirects} redirects") from None
    except httpx.TimeoutException as exc:
        raise FetchError(f"{url}: timed out ({type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None
