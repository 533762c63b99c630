"""Collect one feed: fetch, parse, clean, keep what is new. (Each list files its articles
under its own topics when it builds an issue: digest.topics.filing.)

A feed that fails records its error and backs off; it never raises to the
caller, so one broken feed never stops the others. After FEED_MAX_FAILURES
failures in a row it is paused, and a 410 Gone retires it: neither is fetched
again until `digest feeds resume`. A permanent redirect (301, 308) that led to a
good fetch moves its stored URL; a temporary one does not. When it is due again
is digest.collect.politeness's business. Whatever a feed holds, what we keep of
it is capped (Settings.feed_max_items, title_max_chars, summary_max_chars), and
capped before the costly cleaning.

`collect_all` fetches many feeds at once in one process (threads over one
client, a queue per host); Celery fans the same work out over processes, one
task per feed (digest.tasks).
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx
import redis
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
    text_and_first_image,
    truncate_html,
    truncate_text,
)
from digest.collect.fanout import cpu_turn, deal, run_by_host
from digest.collect.fetch import fetch_feed, make_client
from digest.collect.fulltext import add_full_text
from digest.collect.guard import IPNetwork, readers_may_load
from digest.collect.language import detect_language
from digest.collect.parse import RawEntry, parse_feed
from digest.collect.politeness import HostBusy, HostGate, backoff, host_of, next_check, skipped
from digest.config import Settings
from digest.errors import FeedError, InvalidInput, NotFound
from digest.models import Article, Feed, FeedState
from digest.ops.metrics import record_collect
from digest.store import Store

log = logging.getLogger(__name__)

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
    skipped: bool = False  # not due (backing off, or asked to wait), or not active: not fetched this time
    error: str | None = None
    deferred: float | None = None  # its host had no free slot: not fetched, ask again in this many seconds
    moved_to: str | None = None  # a permanent redirect moved the feed here (its stored URL now)
    status: str = "active"  # the feed's status after this collection: active, paused or retired
    full_text: int = 0  # entries that got their article page's text (digest/collect/fulltext.py)
    full_text_failed: int = 0  # pages that could not be read: those entries keep the feed's text


def to_article(
    entry: RawEntry, feed: Feed, source: str, now: datetime, *,
    caps: Caps = DEFAULT_CAPS, keep_fragment: bool = False, allowed_networks: tuple[IPNetwork, ...] = (),
) -> Article:
    """One cleaned, capped Article from one raw entry; InvalidInput if it has nothing to show.

    `keep_fragment`: the link's #fragment names this item within a page the feed
    links to more than once (see items_sharing_a_page), so it stays in the URL.
    `allowed_networks` (FETCH_ALLOW_NETWORKS): where the card image may be besides the
    public internet; never elsewhere in readers' own networks (guard.readers_may_load).
    """
    raw_link = http_url(entry.link)
    link = canonical_url(raw_link, keep_fragment=keep_fragment) if raw_link else ""
    limit = caps.summary_max_chars
    # Cut the raw HTML before sanitizing (a 4.5 MB description costs nothing past
    # the cut), then cut the clean HTML to the cap, keeping it well-formed.
    raw_cut = max(limit, PREFER_SUMMARY_OVER) * RAW_HTML_FACTOR
    if entry.content_html:
        body_html = sanitize_html(entry.content_html[:raw_cut], base_url=entry.content_base)
    else:
        body_html = sanitize_html(entry.summary_html[:raw_cut], base_url=entry.summary_base)
    if len(body_html) > PREFER_SUMMARY_OVER and entry.content_html and entry.summary_html.strip():
        body_html = sanitize_html(entry.summary_html[:raw_cut], base_url=entry.summary_base)
    full_text, own_image = text_and_first_image(body_html)  # one lxml parse for both
    text = truncate_text(full_text, limit)
    cut_html = truncate_html(body_html, limit)
    if cut_html != body_html:  # the image must be one the reader still sees
        own_image = first_image(cut_html)
    body_html = cut_html
    title = html_to_text(entry.title[: caps.title_max_chars * RAW_HTML_FACTOR]) or _excerpt(text) or link
    if not title:
        raise InvalidInput("entry has no title, link or text to show")
    title = truncate_text(title, caps.title_max_chars)
    guid = " ".join(strip_controls(entry.guid).split())
    if len(guid) > GUID_MAX_CHARS:
        guid = "sha1:" + hashlib.sha1(guid.encode("utf-8")).hexdigest()
    guid = guid or link
    digest = content_hash(title, text)
    # The id comes from what identifies the item within its feed: its link, else
    # its guid, else (neither) its content, so link-less and guid-less items of one
    # feed stay apart. Always within the feed: what one feed publishes never takes
    # the place of another feed's article (a feed that republishes another's links
    # would otherwise show its own title under them, or hide them from the lists
    # that do not follow it). A list following both sees the page once (window.py).
    if link:
        identity = f"{feed.id}\nurl:{link}"
    elif guid:
        identity = f"{feed.id}\n{guid}"
    else:
        identity = f"{feed.id}\ncontent:{digest}"
    image = http_url(entry.image)
    if image and (is_tracker_url(image) or not readers_may_load(image, allowed_networks)):
        image = ""
    if own_image and not readers_may_load(own_image, allowed_networks):
        own_image = None
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
        image=image or own_image,
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
    return backoff(state.error_count, now, max_hours=settings.feed_backoff_max_hours, retry_after=retry_after,
                   skip_hours=state.skip_hours, skip_days=state.skip_days)


def store_entries(
    store: Store, settings: Settings, feed: Feed, source: str, entries: list[RawEntry], now: datetime,
    client: httpx.Client | None = None,
) -> CollectResult:
    """Clean and keep the newest entries; `client`: the collector's, for the article pages it reads."""
    result = CollectResult(feed.id)
    ttl = settings.article_ttl_days * 86400
    caps, allowed = Caps.from_settings(settings), settings.allowed_networks
    kept = newest_first(entries, caps.feed_max_items)  # before any cleaning: the rest costs nothing
    result.over_cap = len(entries) - len(kept)
    if result.over_cap:
        log.info("feed %s: %d entries, kept the newest %d", feed.id, len(entries), len(kept))
    full = add_full_text(store, settings, feed, kept, client=client)  # teasers get their article page's text
    kept, result.full_text, result.full_text_failed = full.entries, full.extracted, full.failed
    pages = items_sharing_a_page(kept)
    failed: Exception | None = None
    articles: list[Article] = []
    with cpu_turn():  # cleaning is CPU work: no fetch or store in this block
        for entry in kept:
            link = http_url(entry.link) if pages else ""  # most feeds: no page is shared, nothing to look up
            keep_fragment = bool(link) and page_and_fragment(link)[0] in pages
            try:
                article = to_article(entry, feed, source, now, caps=caps, keep_fragment=keep_fragment,
                                     allowed_networks=allowed)
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
            articles.append(article)
    for duplicate_of in store.save_articles(articles, ttl):  # one round trip, in feed order
        if duplicate_of is None:
            result.new += 1
        else:
            result.duplicates += 1
    if failed is not None and not result.new and not result.duplicates:
        raise FeedError(f"{feed.url}: no entry could be read ({type(failed).__name__}: {failed})") from failed
    return result


def _error_text(text: str) -> str:
    text = " ".join(strip_controls(text).split())
    return text if len(text) <= ERROR_MAX_CHARS else text[: ERROR_MAX_CHARS - 1] + "…"


def is_due(state: FeedState, now: datetime) -> bool:
    """Is a feed with this state to be fetched at `now`? (Its wait is over, and the hour is not one it skips.)"""
    if state.next_fetch_at is not None and state.next_fetch_at > now:
        return False
    return not skipped(now, state.skip_hours, state.skip_days)


def due_feeds(store: Store, now: datetime | None = None) -> list[Feed]:
    """The active feeds that are due at `now`, read in two round trips."""
    now = now or datetime.now(timezone.utc)
    feeds = [f for f in store.feeds() if f.status == "active" and f.kind == "feed"]
    states = store.feed_states(f.id for f in feeds)
    return [f for f in feeds if is_due(states[f.id], now)]


def collect_feed(
    store: Store, settings: Settings, feed_id: str, *,
    client: httpx.Client | None = None, now: datetime | None = None, force: bool = False,
    host_wait: float | None = None,
) -> CollectResult:
    """Fetch one feed if it is active and due (`force`: due now), keep what is new, record how it went.

    `host_wait`: how long to wait for a slot of the feed's host (default: the
    client's). When none comes, nothing is fetched or recorded and the result is
    `deferred`: the caller asks again later. Never raises for the feed's own
    failures; NotFound if there is no such feed.
    """
    now = now or datetime.now(timezone.utc)
    feed = store.get_feed(feed_id)
    if feed.kind != "feed":  # a newsletter is not fetched: its mail arrives (digest/collect/newsletter.py)
        return CollectResult(feed_id, skipped=True)
    if feed.status != "active":
        return CollectResult(feed_id, skipped=True, status=feed.status, error=_inactive(feed))
    state = store.feed_state(feed_id)
    if not force and not is_due(state, now):
        return CollectResult(feed_id, skipped=True)
    own_client = client is None
    state.last_fetched_at = now
    error: FeedError | None = None
    message = ""
    try:
        client = client or make_client(settings, gate=HostGate.from_settings(store, settings))
        fetched = fetch_feed(client, feed.url, etag=state.etag, last_modified=state.last_modified,
                             max_bytes=settings.fetch_max_bytes, host_wait=host_wait)
        if fetched.not_modified:
            result = CollectResult(feed_id, not_modified=True)
        else:
            parsed = parse_feed(fetched.content or b"", feed.url, content_type=fetched.content_type)
            if parsed.problem:  # read all the same (a guessed encoding, malformed XML, a cut)
                log.info("feed %s: %s", feed.id, parsed.problem)
            result = store_entries(store, settings, feed, feed.name or parsed.title or feed.id,
                                   parsed.entries, now, client)
            state.etag, state.last_modified = fetched.etag, fetched.last_modified
            state.ttl_minutes = parsed.ttl_minutes
            state.skip_hours, state.skip_days = sorted(parsed.skip_hours), sorted(parsed.skip_days)
            state.articles_total += result.new
        state.error, state.error_count, state.last_ok_at = None, 0, now
        state.next_fetch_at = next_check(now, max_age=fetched.max_age, ttl_minutes=state.ttl_minutes,
                                         skip_hours=state.skip_hours, skip_days=state.skip_days)
        if fetched.moved_to and fetched.moved_to != feed.url:
            result.moved_to = _move(store, feed, fetched.moved_to)
    except HostBusy as busy:
        return CollectResult(feed_id, deferred=busy.retry_after or 1.0)
    except FeedError as exc:
        error, message = exc, _error_text(str(exc))
        log.warning("feed %s failed (%d in a row): %s", feed_id, state.error_count + 1, message)
    except SoftTimeLimitExceeded:  # the Celery task's own limit: its handler reports it
        raise
    except Exception as exc:  # last resort: whatever it was, it stays with this feed
        log.exception("feed %s: unexpected error while collecting %s", feed_id, feed.url)
        message = _error_text(f"{feed.url}: unexpected error while collecting ({type(exc).__name__}: {exc})")
        error = FeedError(message)
    finally:
        if own_client and client is not None:
            client.close()
    if error is not None:
        state.error = message
        state.error_count += 1
        state.next_fetch_at = _backoff(state, settings, getattr(error, "retry_after", None), now)
        result = CollectResult(feed_id, error=message, status=_judge(store, settings, feed, state, error, now))
    store.save_feed_state(feed_id, state)
    record_collect(store, result, error)
    return result


def _inactive(feed: Feed) -> str:
    since = f" since {feed.status_since:%Y-%m-%d %H:%M} UTC" if feed.status_since else ""
    return (f"{feed.status}{since} ({feed.status_reason or 'no reason given'}); "
            f"`digest feeds resume {feed.id}` collects it again")


def _judge(store: Store, settings: Settings, feed: Feed, state: FeedState, error: FeedError, now: datetime) -> str:
    """The feed's status after a failure: retired by 410 Gone, paused after FEED_MAX_FAILURES in a row."""
    if getattr(error, "status", None) == 410:
        status, reason = "retired", f"the server says it is gone for good: {state.error}"
    elif state.error_count >= settings.feed_max_failures:
        status, reason = "paused", f"{state.error_count} failures in a row, the last: {state.error}"
    else:
        return "active"
    try:
        store.set_feed_status(feed.id, status, _error_text(reason), now)
    except NotFound:  # removed while we fetched it
        return "active"
    log.warning("feed %s %s: %s", feed.id, status, reason)
    return status


def _move(store: Store, feed: Feed, url: str) -> str | None:
    """Store the feed's new URL after a permanent redirect; None when it is no URL a feed may have.

    Only called after a fetch that went well, so the new address passed the
    guard and served a feed (a 301 to a page that fails moves nothing).
    """
    try:
        store.update_feed(feed.id, url=url)
    except (ValueError, NotFound) as exc:  # pydantic's ValidationError is a ValueError
        log.warning("feed %s: not moved to %s: %s", feed.id, url, _error_text(str(exc)))
        return None
    log.info("feed %s moved for good: %s -> %s", feed.id, feed.url, url)
    return url


# With COLLECT_PROCESSES=0, one process per CPU, but only for this many due feeds
# each: starting a process (imports) costs about half a second.
FEEDS_PER_PROCESS = 100


def collect_all(
    store: Store, settings: Settings, *, force: bool = False, threads: int | None = None,
    processes: int | None = None,
) -> list[CollectResult]:
    """Every active feed that is due (`force`: due or not), many at once; results in feed order.

    In each process, COLLECT_THREADS fetch at once over one shared client, with a
    queue per host (digest.collect.fanout), so a slow or busy host holds up only
    its own feeds. Parsing and cleaning need a CPU each: with many feeds the work
    is dealt over COLLECT_PROCESSES processes (0: one per CPU). A failure stays
    with its feed.
    """
    feeds = [f for f in store.feeds() if f.status == "active" and f.kind == "feed"] if force else due_feeds(store)
    threads = threads or settings.collect_threads
    if processes is None:
        processes = settings.collect_processes or min(os.cpu_count() or 1, len(feeds) // FEEDS_PER_PROCESS)
    if processes <= 1 or len(feeds) < 2:
        return _collect_here(store, settings, [f.id for f in feeds], force, threads)
    if store.cluster:  # a cluster client is made again from REDIS_URL in each process
        connection: tuple[type[redis.Connection] | None, dict[str, Any], str] = (None, {}, store.prefix)
    else:
        pool = store.r.connection_pool
        # How to reach the same Redis from another process: the plain settings (address, db,
        # credentials, TLS files), not the client's live helpers (locks do not travel).
        plain = {k: v for k, v in pool.connection_kwargs.items()
                 if isinstance(v, str | int | float | bool | None) and not k.startswith("orig_")}
        connection = (pool.connection_class, plain, store.prefix)
    shards = deal(feeds, lambda f: _host_key(f.url), processes)
    with ProcessPoolExecutor(len(shards), mp_context=multiprocessing.get_context(_start_method())) as workers:
        parts = [workers.submit(_collect_shard, connection, settings, [f.id for f in shard], force, threads)
                 for shard in shards]
        by_feed = {r.feed_id: r for part in parts for r in part.result()}
    return [by_feed[f.id] for f in feeds if f.id in by_feed]


def _start_method() -> str:
    """fork when this process runs no other thread (the command line): the children start with
    digest already imported, ~0.5 s each sooner than spawn, which imports it again (first pass of
    `bench/collect.py --feeds 1000`: 30.6 s against 32.2 s). With other threads, spawn: a lock one
    of them held at the fork would stay held in the child for good."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return "fork"
    return "spawn"


def _collect_shard(connection: tuple[type[redis.Connection] | None, dict[str, Any], str], settings: Settings,
                   feed_ids: list[str], force: bool, threads: int) -> list[CollectResult]:
    """One process's share of collect_all, on its own Redis connection."""
    connection_class, kwargs, prefix = connection
    if connection_class is None:
        store = Store.from_url(settings.redis_url or "", prefix)
    else:
        store = Store(redis.Redis(connection_pool=redis.ConnectionPool(connection_class=connection_class, **kwargs)),
                      prefix)
    try:
        return _collect_here(store, settings, feed_ids, force, threads)
    finally:
        store.r.close()


def _collect_here(store: Store, settings: Settings, feed_ids: list[str], force: bool,
                  threads: int) -> list[CollectResult]:
    gate = HostGate.from_settings(store, settings)
    urls = {f.id: f.url for f in store.feeds()}

    def one(feed_id: str) -> CollectResult | None:
        try:
            return collect_feed(store, settings, feed_id, client=client, force=force, host_wait=0)
        except NotFound:  # removed while the others were collected
            return None

    with make_client(settings, gate=gate, max_connections=threads) as client:
        return run_by_host([i for i in feed_ids if i in urls], lambda i: _host_key(urls[i]), one,
                           threads=threads, per_host=settings.per_host_concurrency)


def _host_key(url: str) -> str:
    try:
        return host_of(url)
    except (httpx.InvalidURL, ValueError):
        return ""  # its fetch fails with a FetchError naming the URL
