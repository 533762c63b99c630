"""Full text for teaser-only feeds: fetch the article page and keep its main text.

A feed that carries only a teaser starves the topic grouping of text and gives the
email a fragment. For such entries, digest fetches the article's page with the
collector's own client (digest.collect.fetch: the same address guard, deadline and
byte cap, so a page that redirects to a private address is refused like a feed)
and trafilatura extracts the main text, the lead image and the author from it
(trafilatura parses what it is given; it never fetches anything itself). The
extracted HTML then goes through the same sanitizer as any feed HTML, with
relative links resolved against the page.

Which entries (Feed.full_text):
- "auto" (the default): a teaser: its text is shorter than FULLTEXT_MIN_CHARS or
  ends like one ("…", "[…]", "Read more", "Continue reading");
- "always": every entry; "never": none.
Either way only entries with an http(s) link, that the store has not seen (an
article is deduplicated by URL, so a page is extracted once), newest first, at
most FULLTEXT_MAX_PAGES per feed per collection, and each page once per
collection. The pages of one collection share one FETCH_DEADLINE between them
(waiting for their hosts' slots included): pages are anyone's, a link blog's
most of all, and ten pages each answering just within its own deadline would
take the feed's collection past its task's time limit, which stores nothing.
A page that fails to fetch or to extract, or that gives less text than the
feed, leaves the feed's own text: it is logged and counted, never an
error of the feed. After MAX_FAILURES failures in a row, or once the shared
deadline has passed, the feed's remaining pages are not read (they keep the
feed's text).
"""

from __future__ import annotations

import codecs
import logging
import re
import time
from dataclasses import dataclass, field, replace
from email.message import Message
from itertools import islice
from typing import TYPE_CHECKING

from billiard.exceptions import SoftTimeLimitExceeded

from digest.collect.chrome import ends_like_a_teaser, remove_chrome
from digest.collect.clean import (
    canonical_url,
    html_to_text,
    http_url,
    is_tracker_url,
    safe_image,
    sanitize_html,
    strip_controls,
)
from digest.collect.fetch import fetch_feed, make_client
from digest.collect.parse import RawEntry
from digest.errors import DigestError

if TYPE_CHECKING:
    import httpx

    from digest.config import Settings
    from digest.models import Feed
    from digest.store import Store

log = logging.getLogger(__name__)

MAX_FAILURES = 3  # in a row, per feed and collection
HTML_TYPES = ("text/html", "application/xhtml+xml")
# Raw feed HTML read to tell a teaser (a longer text is not one, whatever follows).
TEASER_SCAN_FACTOR = 20
AUTHOR_MAX_CHARS = 200
# Article pages have hundreds to a few thousand elements; extraction time grows with them
# (200,000 tiny elements, 5 MB, took 25 s), so a page with more is not read.
PAGE_MAX_ELEMENTS = 20_000
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE)


class ExtractError(DigestError):
    """A page that gives no article text."""


@dataclass(frozen=True)
class Page:
    """What an article page gives its entry: sanitized HTML, its text, and metadata."""

    html: str
    text: str
    image: str | None = None
    author: str = ""
    title: str = ""


@dataclass
class FullText:
    """The entries, with full text where a page gave one, and what it took."""

    entries: list[RawEntry]
    extracted: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def is_teaser(entry: RawEntry, min_chars: int) -> bool:
    """Whether an entry's own text looks like a teaser: short, or ending like one."""
    raw = max(entry.content_html, entry.summary_html, key=len)
    text = html_to_text(raw[: max(min_chars, 1) * TEASER_SCAN_FACTOR])
    return len(text) < min_chars or ends_like_a_teaser(text)


def wants_page(entry: RawEntry, mode: str, min_chars: int) -> bool:
    if mode == "never" or not http_url(entry.link):
        return False
    return mode == "always" or is_teaser(entry, min_chars)


def add_full_text(
    store: Store, settings: Settings, feed: Feed, entries: list[RawEntry], *, client: httpx.Client | None = None,
) -> FullText:
    """`entries` (newest first) with the teasers' article pages read in, as FullText."""
    result = FullText(list(entries))
    budget = settings.fulltext_max_pages
    if feed.full_text == "never" or budget <= 0:
        return result
    pages: dict[str, list[int]] = {}
    for i, entry in enumerate(entries):  # a page several entries link to (a link blog) is none of theirs
        if http_url(entry.link):
            pages.setdefault(canonical_url(http_url(entry.link)), []).append(i)
    todo = [(url, found[0]) for url, found in pages.items()
            if len(found) == 1 and wants_page(entries[found[0]], feed.full_text, settings.fulltext_min_chars)]
    seen = store.seen_urls(feed.id, [url for url, _ in todo])
    todo = [(url, i) for url, i in todo if url not in seen][:budget]
    if not todo:
        return result
    own_client = client is None
    client = client or make_client(settings)
    ends = time.monotonic() + settings.fetch_deadline  # every page's fetch together (the module says why)
    try:
        failures = 0
        for url, i in todo:
            if failures >= MAX_FAILURES:
                log.info("feed %s: %d pages in a row failed; the rest keep the feed's text",
                         feed.id, failures)
                break
            left = ends - time.monotonic()
            if left <= 0:
                log.info("feed %s: the pages took %g s; the rest keep the feed's text", feed.id,
                         settings.fetch_deadline)
                break
            entry = entries[i]
            try:
                page = read_page(client, http_url(entry.link), max_bytes=settings.fetch_max_bytes, seconds=left)
                if len(page.text) <= len(html_to_text(entry.content_html or entry.summary_html)):
                    raise ExtractError(f"{url}: the page has no more text than the feed")
            except SoftTimeLimitExceeded:
                raise
            except Exception as exc:  # DigestError, or a page no one foresaw: this entry keeps its text
                if not isinstance(exc, DigestError):
                    log.exception("feed %s: could not read the page %s", feed.id, url)
                failures += 1
                result.failed += 1
                result.errors.append(str(exc))
                log.info("feed %s: kept the feed's text: %s", feed.id, exc)
                continue
            failures = 0
            result.extracted += 1
            result.entries[i] = with_page(entry, page)
    finally:
        if own_client:
            client.close()
    return result


def with_page(entry: RawEntry, page: Page) -> RawEntry:
    """The entry with the page's text as its content; the feed's own title, author and image win."""
    return replace(
        entry,
        content_html=page.html,
        summary_html="",  # else a long page would make the collector prefer the feed's teaser
        content_base="",  # the page's links are absolute already (extract_page)
        title=entry.title or page.title,
        author=entry.author or page.author,
        image=entry.image or page.image,
    )


def read_page(client: httpx.Client, url: str, *, max_bytes: int, seconds: float | None = None) -> Page:
    """Fetch an article page (guarded, capped, within the deadline) and extract it; DigestError if not.

    `seconds`: at most this long, waiting for the host's slot included (default: the client's deadline).
    """
    wait = None if seconds is None else min(getattr(client, "host_wait", seconds), seconds)
    fetched = fetch_feed(client, url, etag=None, last_modified=None, max_bytes=max_bytes,
                         host_wait=wait, deadline=seconds)
    media_type = _media_type(fetched.content_type)
    if media_type and media_type not in HTML_TYPES:
        raise ExtractError(f"{url}: not an HTML page ({media_type})")
    return extract_page(fetched.content or b"", fetched.final_url, content_type=fetched.content_type)


def extract_page(content: bytes, url: str, *, content_type: str | None = None) -> Page:
    """The main text of an article page, sanitized, with its lead image and author; ExtractError if none."""
    import trafilatura  # heavy (lxml, dateparser): only for the collectors that read pages

    text = decode_page(content, content_type)
    try:
        tree = trafilatura.load_html(text)
        if tree is None:
            raise ExtractError(f"{url}: not an HTML page")
        if sum(1 for _ in islice(tree.iter(), PAGE_MAX_ELEMENTS + 1)) > PAGE_MAX_ELEMENTS:
            raise ExtractError(f"{url}: more than {PAGE_MAX_ELEMENTS} elements, not an article page")
        meta = trafilatura.extract_metadata(tree, default_url=url, extensive=False)  # reads <head>, JSON-LD
        body_element = tree.find("body")
        remove_chrome(body_element if body_element is not None else tree)  # what trafilatura would keep of it
        body = trafilatura.extract(
            tree, url=url, output_format="html", include_comments=False, include_tables=True,
            include_images=True, include_links=True, include_formatting=True,
        )
    except ExtractError:
        raise
    except (ValueError, TypeError, RecursionError, AttributeError, LookupError) as exc:
        raise ExtractError(f"{url}: could not be read as an article ({type(exc).__name__})") from None
    html = sanitize_html(_body_of(body or ""), base_url=url)
    plain = html_to_text(html)
    if not plain:
        raise ExtractError(f"{url}: no article text found")
    image = safe_image(meta.image, url) if meta.image else None
    return Page(
        html=html,
        text=plain,
        image=image if image and not is_tracker_url(image) else None,
        author=" ".join(strip_controls(meta.author or "").split())[:AUTHOR_MAX_CHARS],
        title=" ".join(strip_controls(meta.title or "").split()),
    )


def decode_page(content: bytes, content_type: str | None) -> str:
    """The page's text: the header's charset, else a byte order mark, UTF-8, the <meta> charset, cp1252.

    Decoded here, so trafilatura gets text and never decompresses or guesses anything itself.
    """
    charset = _charset(content_type)
    if charset:
        return content.decode(charset, "replace")
    if content.startswith(codecs.BOM_UTF8):
        return content[3:].decode("utf-8", "replace")
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return content.decode("utf-16", "replace")
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = _META_CHARSET.search(content[:4096])
    charset = _usable(declared.group(1).decode("ascii")) if declared else None
    return content.decode(charset or "cp1252", "replace")


def _body_of(html: str) -> str:
    """The inside of trafilatura's <body> (its <html> wrapper and <head> are not content)."""
    start = html.find("<body")
    if start < 0:
        return html
    start = html.find(">", start) + 1
    end = html.rfind("</body>")
    return html[start : end if end >= start else len(html)]


def _media_type(content_type: str | None) -> str:
    if not content_type:
        return ""
    message = Message()
    message["content-type"] = content_type
    return message.get_content_type() if "/" in content_type else ""


def _charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    message = Message()
    message["content-type"] = content_type
    return _usable(message.get_content_charset())


def _usable(charset: str | None) -> str | None:
    """`charset` when Python can decode text with it ("base64" and the like are not text encodings)."""
    if not charset:
        return None
    try:
        codecs.lookup(charset)
        b"".decode(charset)
    except (LookupError, ValueError):
        return None
    return charset
