"""Collect one feed: fetch, parse, clean, keep what is new. (Each list files its articles
under its own topics when it builds an issue: digest.topics.filing.)

A feed that fails records its error and backs off; it never raises to the
caller, so one broken feed never stops the others. Whatever a feed holds, what
we keep of it is capped (Settings.feed_max_items, title_max_chars,
summary_max_chars), and capped before the costly cleaning.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import httpx
from billiard.exceptions import SoftTimeLimitExceeded

from digest.collect.clean import (
    canonical_url,
    content_hash,
    first_image,
    html_to_text,
    http_url,
    is_tracker_url,
    one_line,
    page_and_fragment,
    sanitize_html,
    strip_controls,
    truncate_html,
    truncate_text,
)
from digest.collect.fetch import fetch_feed, make_client
from digest.collect.language import detect_language
from digest.collect.parse import RawEntry, parse_feed
from digest.config import Settings
from digest.errors import FeedError, InvalidInput
from digest.models import Article, Feed, FeedState
from digest.store import Store

log = logging.getLogger(__name__)

FIRST_BACKOFF = timedelta(minutes=15)
# The longest wait a server's Retry-After can impose on a feed (longer ones are cut to this).
RETRY_AFTER_CAP = timedelta(days=7)
# Caps with no setting of their own.
AUTHOR_MAX_CHARS = 200
SOURCE_MAX_CHARS = 200
CATEGORY_MAX_CHARS = 100
MAX_CATEGORIES = 20
GUID_MAX_CHARS = 1000  # a longer guid is kept as its SHA-1
# Raw HTML handed to the sanitizer, per character kept: markup is most of a feed's HTML.
RAW_HTML_FACTOR = 10
# A content longer than this is a whole article: the feed's own summary, when it
# has one, is the better excerpt (the email shows ~300 characters). Either is then
# capped at summary_max_chars.
PREFER_SUMMARY_OVER = 8000
ERROR_MAX_CHARS = 500


@dataclass(frozen=True)
class Caps:
    """What one feed can make us keep: entries per fetch, and characters per title and text."""

    feed_max_items: int
    title_max_chars: int
    summary_max_chars: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Caps:
        return cls(settings.feed_max_items, settings.title_max_chars, settings.summary_max_chars)


DEFAULT_CAPS = Caps(*(Settings.model_fields[name].default
                      for name in ("feed_max_items", "title_max_chars", "summary_max_chars")))


@dataclass
class CollectResult:
    feed_id: str
    new: int = 0
    duplicates: int = 0
    skipped_entries: int = 0
    over_cap: int = 0  # entries beyond feed_max_items, not read
    not_modified: bool = False
    skipped: bool = False  # backing off: not fetched this time
    error: str | None = None


def to_article(
    entry: RawEntry, feed: Feed, source: str, now: datetime, *,
    caps: Caps = DEFAULT_CAPS, keep_fragment: bool = False,
) -> Article:
    """One cleaned, capped Article from one raw entry; InvalidInput if it has nothing to show.

    `keep_fragment`: the link's #fragment names this item within a page the feed
    links to more than once (see items_sharing_a_page), so it stays in the URL.
    """
    raw_link = http_url(entry.link)
    link = canonical_url(raw_link, keep_fragment=keep_fragment) if raw_link else ""
    limit = caps.summary_max_chars
    # Cut the raw HTML before sanitizing (a 4.5 MB description costs nothing past
    # the cut), then cut the clean HTML to the cap, keeping it well-formed.
    raw_cut = max(limit, PREFER_SUMMARY_OVER) * RAW_HTML_FACTOR
    body_html = sanitize_html((entry.content_html or entry.summary_html)[:raw_cut])
    if len(body_html) > PREFER_SUMMARY_OVER and entry.content_html and entry.summary_html.strip():
        body_html = sanitize_html(entry.summary_html[:raw_cut])
    text = truncate_text(html_to_text(body_html), limit)
    body_html = truncate_html(body_html, limit)
    title = html_to_text(entry.title[: caps.title_max_chars * RAW_HTML_FACTOR]) or _excerpt(text) or link
    if not title:
        raise InvalidInput("entry has no title, link or text to show")
    title = truncate_text(title, caps.title_max_chars)
    guid = " ".join(strip_controls(entry.guid).split())
    if len(guid) > GUID_MAX_CHARS:
        guid = "sha1:" + hashlib.sha1(guid.encode("utf-8")).hexdigest()
    guid = guid or link
    digest = content_hash(title, text)
    # The id comes from what identifies the item: its link, else its guid within
    # the feed, else (neither) its content within the feed, so link-less and
    # guid-less items of one feed stay apart.
    if link:
        identity = link
    elif guid:
        identity = f"{feed.id}\n{guid}"
    else:
        identity = f"{feed.id}\ncontent:{digest}"
    image = http_url(entry.image)
    if image and is_tracker_url(image):
        image = ""
    categories = list(dict.fromkeys(c for c in (one_line(c, CATEGORY_MAX_CHARS) for c in entry.categories) if c))
    return Article(
        id=hashlib.sha1(identity.encode("utf-8")).hexdigest(),
        feed_id=feed.id,
        source=one_line(source, SOURCE_MAX_CHARS) or feed.id,
        title=title,
        url=link,
        guid=guid,
        published=min(entry.published or now, now),  # a date in the future is a feed's mistake
        author=one_line(html_to_text(entry.author[: AUTHOR_MAX_CHARS * 4]), AUTHOR_MAX_CHARS),
        summary_html=body_html,
        summary_text=text,
        image=image or first_image(body_html),
        categories=categories[:MAX_CATEGORIES],
        content_hash=digest,
        language=detect_language(title, text),
        collected_at=now,
    )


def _excerpt(text: str, words: int = 12) -> str:
    cut = text.split()
    return " ".join(cut[:words]) + ("…" if len(cut) > words else "")


def newest_first(entries: list[RawEntry], limit: int) -> list[RawEntry]:
    """The `limit` newest entries: dated ones newest first, then undated ones in feed order."""
    dated = [e for e in entries if e.published is not None]
    dated.sort(key=lambda e: e.published.timestamp(), reverse=True)  # type: ignore[union-attr]  # stable
    undated = [e for e in entries if e.published is None]
    return (dated + undated)[:limit]


def items_sharing_a_page(entries: list[RawEntry]) -> set[str]:
    """Pages (canonical, fragment-less URLs) that several of these entries link to with different fragments.

    The rule for #fragments: a fragment names a place in a page, so usually the
    same page reached with another anchor (#comments, #more-123) or with tracking
    parameters is the same story, and the canonical URL drops the fragment. But
    when one feed's items link to one page with different fragments (a
    changelog, a link blog, a live page with an anchor per item), each fragment
    is its own item: for those pages the fragment stays in the URL (the article's
    identity and the link the reader gets). It is decided per fetch, among the
    entries kept; an item seen before under its fragment-less URL is still caught
    by its guid and content hash.
    """
    fragments: dict[str, set[str]] = {}
    for entry in entries:
        link = http_url(entry.link)
        if link:
            page, fragment = page_and_fragment(link)
            fragments.setdefault(page, set()).add(fragment)
    return {page for page, seen in fragments.items() if len(seen) > 1}


def _backoff(state: FeedState, settings: Settings, retry_after: float | None, now: datetime) -> datetime:
    exponent = min(max(0, state.error_count - 1), 20)  # 2**20 quarter hours is past any cap
    delay = min(FIRST_BACKOFF * 2**exponent, timedelta(hours=min(settings.feed_backoff_max_hours, 24 * 366)))
    if retry_after and math.isfinite(retry_after) and retry_after > 0:
        delay = max(delay, timedelta(seconds=min(retry_after, RETRY_AFTER_CAP.total_seconds())))
    return now + delay


def store_entries(
    store: Store, settings: Settings, feed: Feed, source: str, entries: list[RawEntry], now: datetime,
) -> CollectResult:
    result = CollectResult(feed.id)
    ttl = settings.article_ttl_days * 86400
    caps = Caps.from_settings(settings)
    kept = newest_first(entries, caps.feed_max_items)  # before any cleaning: the rest costs nothing
    result.over_cap = len(entries) - len(kept)
    if result.over_cap:
        log.info("feed %s: %d entries, kept the newest %d", feed.id, len(entries), len(kept))
    pages = items_sharing_a_page(kept)
    failed: Exception | None = None
    for entry in kept:
        link = http_url(entry.link)
        keep_fragment = bool(link) and page_and_fragment(link)[0] in pages
        try:
            article = to_article(entry, feed, source, now, caps=caps, keep_fragment=keep_fragment)
        except (InvalidInput, ValueError) as exc:
            result.skipped_entries += 1
            log.info("feed %s: skipped an entry: %s", feed.id, exc)
            continue
        except SoftTimeLimitExceeded:
            raise
        except Exception as exc:  # a bug or an input we did not foresee: this entry only
            result.skipped_entries += 1
            failed = exc
            log.exception("feed %s: could not read an entry", feed.id)
            continue
        if store.save_article(article, ttl) is None:
            result.new += 1
        else:
            result.duplicates += 1
    if failed is not None and not result.new and not result.duplicates:
        raise FeedError(f"{feed.url}: no entry could be read ({type(failed).__name__}: {failed})") from failed
    return result


def _error_text(text: str) -> str:
    text = " ".join(strip_controls(text).split())
    return text if len(text) <= ERROR_MAX_CHARS else text[: ERROR_MAX_CHARS - 1] + "…"


def collect_feed(
    store: Store, settings: Settings, feed_id: str, *,
    client: httpx.Client | None = None, now: datetime | None = None, force: bool = False,
) -> CollectResult:
    now = now or datetime.now(timezone.utc)
    feed = store.get_feed(feed_id)
    state = store.feed_state(feed_id)
    if not force and state.next_fetch_at and state.next_fetch_at > now:
        return CollectResult(feed_id, skipped=True)
    own_client = client is None
    state.last_fetched_at = now
    error: str | None = None
    retry_after: float | None = None
    try:
        client = client or make_client(settings)
        fetched = fetch_feed(client, feed.url, etag=state.etag, last_modified=state.last_modified,
                             max_bytes=settings.fetch_max_bytes)
        if fetched.not_modified:
            result = CollectResult(feed_id, not_modified=True)
        else:
            parsed = parse_feed(fetched.content or b"", feed.url, content_type=fetched.content_type)
            result = store_entries(store, settings, feed, feed.name or parsed.title or feed.id,
                                   parsed.entries, now)
            state.etag, state.last_modified = fetched.etag, fetched.last_modified
            state.articles_total += result.new
        state.error, state.error_count, state.next_fetch_at = None, 0, None
        state.last_ok_at = now
    except FeedError as exc:
        error = _error_text(str(exc))
        retry_after = getattr(exc, "retry_after", None)
        log.warning("feed %s failed (%d in a row): %s", feed_id, state.error_count + 1, error)
    except SoftTimeLimitExceeded:  # the Celery task's own limit: its handler reports it
        raise
    except Exception as exc:  # last resort: whatever it was, it stays with this feed
        log.exception("feed %s: unexpected error while collecting %s", feed_id, feed.url)
        error = _error_text(f"{feed.url}: unexpected error while collecting ({type(exc).__name__}: {exc})")
    finally:
        if own_client and client is not None:
            client.close()
    if error is not None:
        state.error = error
        state.error_count += 1
        state.next_fetch_at = _backoff(state, settings, retry_after, now)
        result = CollectResult(feed_id, error=error)
    store.save_feed_state(feed_id, state)
    return result


def collect_all(store: Store, settings: Settings, *, force: bool = False) -> list[CollectResult]:
    """Every feed in turn, sharing one HTTP client; failures stay with their feed."""
    with make_client(settings) as client:
        return [collect_feed(store, settings, f.id, client=client, force=force) for f in store.feeds()]
