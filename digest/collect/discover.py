"""Feed discovery: from the URL an editor has (a site, a page, or the feed itself) to the feed's URL.

The URL is fetched; when it is a feed, that is the answer. When it is an HTML
page, its `<link rel="alternate">` elements of a feed type are tried, resolved
against the page (and its `<base href>`), in order of preference: Atom, then
RSS, then JSON Feed, then RSS 1.0 (RDF), document order breaking ties, and
comment feeds ("Comments Feed", /comments/feed) after every other. Without any
that works, the common paths are tried: /feed, /rss, /rss.xml, /atom.xml,
/feed.xml, /feed.json, /index.xml, first under the page's own folder when it is
not the site's root, then at the root. A candidate counts only when it parses as
a feed. Every request goes through `fetch_feed` (address policy, deadline,
size cap), and the whole search has a time budget; no feed is a FeedError that
says what was tried.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx
from lxml import etree
from lxml import html as lxml_html

from digest.collect.clean import http_url, strip_controls
from digest.collect.encoding import codec_name, header_charset
from digest.collect.fetch import fetch_feed
from digest.collect.parse import ParsedFeed, parse_feed
from digest.errors import FeedError

# <link type>s that name a feed, best first.
FEED_TYPES = {
    "application/atom+xml": 0, "application/rss+xml": 1, "application/feed+json": 2, "application/rdf+xml": 3,
}
COMMON_PATHS = ("feed", "rss", "rss.xml", "atom.xml", "feed.xml", "feed.json", "index.xml")
MAX_LINKS = 6  # <link>s tried at most
PAGE_SCAN_CHARS = 1024 * 1024  # feed links live in <head>: the rest of a long page is not read
DISCOVERY_SECONDS = 120.0  # the whole search, however many candidates are left
_COMMENTS = re.compile(r"comment", re.IGNORECASE)
# The first tag of a document, past the XML declaration, comments and white space.
_FIRST_TAG = re.compile(r"<(?!\?|!--)(!doctype\s+html|[a-z][\w:.-]*)", re.IGNORECASE)


@dataclass(frozen=True)
class FoundFeed:
    url: str
    title: str
    how: str  # how it was found, for the editor


def find_feed(
    client: httpx.Client, url: str, *, max_bytes: int, budget: float = DISCOVERY_SECONDS,
) -> FoundFeed:
    """The feed `url` is or points to; FeedError (FetchError if `url` itself failed) when none."""
    started = time.monotonic()
    page = fetch_feed(client, url, max_bytes=max_bytes)
    body = page.content or b""
    if not looks_like_html(body):
        try:
            parsed = parse_feed(body, url, content_type=page.content_type)
        except FeedError as exc:
            if not _html_type(page.content_type):
                raise FeedError(f"{url}: neither a feed nor an HTML page that links to one ({exc})") from None
        else:
            return FoundFeed(url, parsed.title, "the URL is a feed")
    base = page.final_url
    tried: list[str] = []
    links = feed_links(body, base, content_type=page.content_type)
    for link in links[:MAX_LINKS]:
        found = _try(client, link, max_bytes, tried, started, budget)
        if found:
            return FoundFeed(link, found.title, f'<link rel="alternate"> on {base}')
    for candidate in common_feed_urls(base):
        if candidate in links[:MAX_LINKS] or candidate in (url, base):
            continue
        found = _try(client, candidate, max_bytes, tried, started, budget)
        if found:
            return FoundFeed(candidate, found.title, f"the common path {urlsplit(candidate).path}")
    out_of_time = time.monotonic() - started > budget
    said = "; ".join(tried[:8]) + (f"; and {len(tried) - 8} more" if len(tried) > 8 else "")
    raise FeedError(
        f"{url}: no feed found: "
        + ("the page links to no feed (<link rel=\"alternate\"> of a feed type)" if not links
           else "none of the feeds the page links to works")
        + (f"; stopped after {budget:g} s" if out_of_time else f", and no common path ({', '.join(COMMON_PATHS)}) "
           "answers with a feed")
        + (f" (tried: {said})" if said else "")
    )


def _try(
    client: httpx.Client, url: str, max_bytes: int, tried: list[str], started: float, budget: float,
) -> ParsedFeed | None:
    """The feed at `url`, or None, its failure noted in `tried`."""
    if time.monotonic() - started > budget:
        return None
    try:
        fetched = fetch_feed(client, url, max_bytes=max_bytes)
        body = fetched.content or b""
        if looks_like_html(body):
            raise FeedError("an HTML page")
        return parse_feed(body, url, content_type=fetched.content_type)
    except FeedError as exc:
        reason = str(exc)
        tried.append(f"{url}: {reason.removeprefix(url + ': ')}"[:300])
        return None


def looks_like_html(body: bytes) -> bool:
    """The document starts like an HTML page (doctype or <html>), not a feed."""
    head = body[:4096].decode("latin-1").lstrip("\ufeff\xef\xbb\xbf \t\r\n")
    for match in _FIRST_TAG.finditer(head):
        name = match[1].lower()
        if name.startswith("!doctype") or name in ("html", "head", "body"):
            return True
        if not name.startswith("!"):
            return False
    return False


def _html_type(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in ("text/html", "application/xhtml+xml")


def feed_links(body: bytes, page_url: str, *, content_type: str | None = None) -> list[str]:
    """The feed URLs a page's <link rel="alternate"> elements name, best first, absolute http(s), no repeats."""
    charset = codec_name(header_charset(content_type)) or "utf-8"
    text = body[:PAGE_SCAN_CHARS].decode(charset, "replace")
    links, base_href = _alternates(text)
    base = urljoin(page_url, base_href) if base_href and http_url(urljoin(page_url, base_href)) else page_url
    ranked = []
    for order, (kind, href, title) in enumerate(links):
        url = http_url(urljoin(base, href.strip()))
        if url:
            comments = bool(_COMMENTS.search(title) or _COMMENTS.search(urlsplit(url).path))
            ranked.append((comments, FEED_TYPES[kind], order, url))
    return list(dict.fromkeys(url for *_, url in sorted(ranked)))


def common_feed_urls(page_url: str) -> list[str]:
    """The usual feed paths under the page's folder (when not the root), then at the site's root."""
    parts = urlsplit(page_url)
    root = f"{parts.scheme}://{parts.netloc}/"
    folder = parts.path[: parts.path.rfind("/") + 1] if "/" in parts.path else "/"
    bases = ([f"{parts.scheme}://{parts.netloc}{folder}"] if folder not in ("", "/") else []) + [root]
    return list(dict.fromkeys(urljoin(b, p) for b in bases for p in COMMON_PATHS))


def _alternates(text: str) -> tuple[list[tuple[str, str, str]], str | None]:
    """(type, href, title) of the page's feed <link rel="alternate">s in document order (those of
    <head> when it has any), and its first <base href>.

    lxml, not html.parser: Python's parser takes time quadratic in the length of a tag left
    open ("<a<a<a…" with no ">": a megabyte cost nine minutes), libxml2 reads it in one pass.
    """
    try:
        root = lxml_html.document_fromstring(strip_controls(text))
    except (etree.ParserError, ValueError, etree.LxmlError):  # nothing but a comment, a doctype, ...
        return [], None
    base = next((b.get("href", "").strip() for b in root.iter("base") if b.get("href", "").strip()), None)
    links = []
    for element in root.iter("link"):
        values = {str(k).lower(): v or "" for k, v in element.attrib.items()}
        rel = values.get("rel", "").lower().split()
        kind = values.get("type", "").split(";", 1)[0].strip().lower()
        if "alternate" in rel and kind in FEED_TYPES and values.get("href", "").strip():
            in_head = any(a.tag == "head" for a in element.iterancestors())
            links.append((in_head, (kind, values["href"], values.get("title", ""))))
    head = [link for in_head, link in links if in_head]
    return head or [link for _, link in links], base
