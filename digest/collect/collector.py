"""Collect one feed: fetch, parse, clean, assign topics, keep what is new.

A feed that fails records its error and backs off; it never raises to the
caller, so one broken feed never stops the others.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import httpx

from digest.collect.clean import canonical_url, content_hash, first_image, html_to_text, sanitize_html
from digest.collect.fetch import fetch_feed, make_client
from digest.collect.parse import RawEntry, parse_feed
from digest.config import Settings
from digest.errors import FeedError, InvalidInput
from digest.models import Article, Feed, FeedState, Topic
from digest.store import Store
from digest.topics import assign_topics

log = logging.getLogger(__name__)

FIRST_BACKOFF = timedelta(minutes=15)
SUMMARY_MAX_CHARS = 4000  # the email shows ~300; keep enough for matching and editing


@dataclass
class CollectResult:
    feed_id: str
    new: int = 0
    duplicates: int = 0
    skipped_entries: int = 0
    not_modified: bool = False
    skipped: bool = False  # backing off: not fetched this time
    error: str | None = None


def to_article(entry: RawEntry, feed: Feed, source: str, now: datetime) -> Article:
    """One cleaned Article from one raw entry; InvalidInput if it has nothing to show."""
    link = canonical_url(entry.link) if entry.link.startswith(("http://", "https://")) else ""
    body_html = sanitize_html(entry.content_html or entry.summary_html)
    if len(body_html) > SUMMARY_MAX_CHARS * 2:
        body_html = sanitize_html(entry.summary_html) if entry.summary_html else ""
    text = html_to_text(body_html)[:SUMMARY_MAX_CHARS]
    title = html_to_text(entry.title) or _excerpt(text) or link
    if not title:
        raise InvalidInput("entry has no title, link or text to show")
    guid = entry.guid or link
    identity = link or f"{feed.id}\n{guid}"
    image = entry.image if entry.image and entry.image.startswith(("http://", "https://")) else None
    return Article(
        id=hashlib.sha1(identity.encode("utf-8")).hexdigest(),
        feed_id=feed.id,
        source=source,
        title=title,
        url=link,
        guid=guid,
        published=min(entry.published or now, now),  # a date in the future is a feed's mistake
        author=entry.author,
        summary_html=body_html,
        summary_text=text,
        image=image or first_image(body_html),
        categories=entry.categories,
        content_hash=content_hash(title, text),
        collected_at=now,
    )


def _excerpt(text: str, words: int = 12) -> str:
    cut = text.split()
    return " ".join(cut[:words]) + ("…" if len(cut) > words else "")


def _backoff(state: FeedState, settings: Settings, retry_after: float | None, now: datetime) -> datetime:
    delay = FIRST_BACKOFF * 2 ** max(0, state.error_count - 1)
    delay = min(delay, timedelta(hours=settings.feed_backoff_max_hours))
    if retry_after:
        delay = max(delay, timedelta(seconds=retry_after))
    return now + delay


def store_entries(
    store: Store, settings: Settings, feed: Feed, source: str, entries: list[RawEntry],
    topics: list[Topic], now: datetime,
) -> CollectResult:
    result = CollectResult(feed.id)
    ttl = settings.article_ttl_days * 86400
    for entry in entries:
        try:
            article = to_article(entry, feed, source, now)
        except (InvalidInput, ValueError) as exc:
            result.skipped_entries += 1
            log.info("feed %s: skipped an entry: %s", feed.id, exc)
            continue
        article.topics = assign_topics(article, topics)
        if store.save_article(article, ttl) is None:
            result.new += 1
        else:
            result.duplicates += 1
    return result


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
    client = client or make_client(settings)
    state.last_fetched_at = now
    try:
        fetched = fetch_feed(client, feed.url, etag=state.etag, last_modified=state.last_modified,
                             max_bytes=settings.fetch_max_bytes)
        if fetched.not_modified:
            result = CollectResult(feed_id, not_modified=True)
        else:
            parsed = parse_feed(fetched.content or b"", feed.url)
            result = store_entries(store, settings, feed, feed.name or parsed.title or feed.id,
                                   parsed.entries, store.topics(), now)
            state.etag, state.last_modified = fetched.etag, fetched.last_modified
            state.articles_total += result.new
        state.error, state.error_count, state.next_fetch_at = None, 0, None
        state.last_ok_at = now
    except FeedError as exc:
        state.error = str(exc)
        state.error_count += 1
        state.next_fetch_at = _backoff(state, settings, getattr(exc, "retry_after", None), now)
        result = CollectResult(feed_id, error=str(exc))
        log.warning("feed %s failed (%d in a row): %s", feed_id, state.error_count, exc)
    finally:
        if own_client:
            client.close()
    store.save_feed_state(feed_id, state)
    return result


def collect_all(store: Store, settings: Settings, *, force: bool = False) -> list[CollectResult]:
    """Every feed in turn, sharing one HTTP client; failures stay with their feed."""
    with make_client(settings) as client:
        return [collect_feed(store, settings, f.id, client=client, force=force) for f in store.feeds()]
