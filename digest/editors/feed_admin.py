"""Feeds as an admin manages them: added from a site's URL (discovery), their health, paused, resumed, removed.

Feeds are global: every list takes the articles of all feeds unless its `feeds`
names some (models.DigestList), so adding or removing one changes every list's
issue. The command line (digest/cli/feeds.py) and the editors' app
(digest/web/feeds_admin.py) both come through here.

Every request goes through the collector's guarded client (collect/guard.py): a
private or loopback address is refused unless FETCH_ALLOW_NETWORKS allows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

from pydantic import ValidationError

from digest.collect.discover import DISCOVERY_SECONDS, find_feed
from digest.collect.fetch import make_client
from digest.config import Settings
from digest.errors import FetchError, InvalidInput
from digest.models import Feed, FeedState
from digest.samples import SCHEME as SAMPLE_SCHEME
from digest.store import Store

# A web request must answer in seconds, not DISCOVERY_SECONDS: the search stops starting
# new candidates after WEB_BUDGET, and no single fetch takes more than WEB_FETCH_SECONDS,
# so the whole add takes at most about WEB_BUDGET + WEB_FETCH_SECONDS (20 s).
WEB_BUDGET = 12.0
WEB_FETCH_SECONDS = 8.0


@dataclass(frozen=True)
class AddedFeed:
    feed: Feed
    how: str  # how its URL was found ("" when kept as given)
    warning: str = ""  # not checked: why (the site did not answer)


def model(cls: type, **fields: object) -> object:
    """A model, pydantic's report turned into one line (InvalidInput)."""
    try:
        return cls(**fields)
    except ValidationError as exc:
        msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                        for e in exc.errors())
        raise InvalidInput(f"invalid {cls.__name__.lower()}: {msg}") from None


def feed_id_for(store: Store, url: str) -> str:
    """A free id from the URL's host ("www.planet.example" -> "planet-example", then -2, -3, ...)."""
    host = (urlsplit(url).hostname or "feed").removeprefix("www.")
    base = re.sub(r"[^a-z0-9]+", "-", host.lower()).strip("-")[:50] or "feed"
    taken = {f.id for f in store.feeds()}
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def add_feed(
    store: Store, settings: Settings, url: str, *, feed_id: str = "", name: str = "", full_text: str = "auto",
    as_is: bool = False, keep_unreachable: bool = True, replace: bool = True, budget: float = DISCOVERY_SECONDS,
    fetch_seconds: float | None = None,
) -> AddedFeed:
    """Add a feed by its URL or a site's or page's URL (discovery finds the feed it links to).

    A page without a feed (FeedError) adds nothing. A site that does not answer
    (FetchError) keeps the URL as given when `keep_unreachable` (the CLI: the
    collector will keep trying), else adds nothing (the web: say why, now). An
    address the guard refuses is a FetchError too (its message says so). `replace`
    False refuses an id in use (the CLI replaces it, as `feeds add` always has).
    """
    url = url.strip()
    if not re.match(r"^https?://", url, re.IGNORECASE) and not url.startswith(SAMPLE_SCHEME):
        if re.match(r"^[a-z][a-z0-9+.-]*:", url, re.IGNORECASE):
            raise InvalidInput(f"{url!r} is not an http(s) URL")
        url = f"https://{url}"  # "planet.example" is what people type
    feed_id = feed_id.strip() or feed_id_for(store, url)
    feed: Feed = model(Feed, id=feed_id, url=url, name=name.strip(), full_text=full_text)  # type: ignore[assignment]
    if not replace and feed_id in {f.id for f in store.feeds()}:
        raise InvalidInput(f"a feed with the id {feed_id!r} exists already; choose another id")
    if as_is or url.startswith(SAMPLE_SCHEME):  # a bundled sample has nothing to discover
        store.add_feed(feed)
        return AddedFeed(feed, "")
    with make_client(settings) as client:
        if fetch_seconds is not None:
            client.fetch_deadline = min(fetch_seconds, settings.fetch_deadline)
        try:
            found = find_feed(client, url, max_bytes=settings.fetch_max_bytes, budget=budget)
        except FetchError as exc:
            if not keep_unreachable:
                raise
            store.add_feed(feed)
            return AddedFeed(feed, "", f"not checked, kept as given: {exc}")
    feed = model(Feed, **{**feed.model_dump(), "url": found.url,  # type: ignore[assignment]
                          "name": feed.name or found.title[:200]})
    store.add_feed(feed)
    return AddedFeed(feed, f"{found.url} ({found.how})" if found.url != url else "")


@dataclass(frozen=True)
class FeedHealth:
    feed: Feed
    state: FeedState
    health: str  # "ok", "failing", "paused", "retired"
    detail: str  # the error, or why paused or retired

    @property
    def where(self) -> str:
        return self.feed.url or "newsletter (by email)"


def feed_health(store: Store) -> list[FeedHealth]:
    """Every feed with what the collector last saw, in two round trips."""
    feeds = store.feeds()
    states = store.feed_states(f.id for f in feeds)
    rows = []
    for feed in feeds:
        state = states[feed.id]
        if feed.status != "active":
            health, detail = feed.status, feed.status_reason
        elif state.error:
            health, detail = "failing", f"{state.error_count} in a row: {state.error}"
        else:
            health, detail = "ok", ""
        rows.append(FeedHealth(feed, state, health, detail))
    return rows


def pause_feed(store: Store, feed_id: str, reason: str, now: datetime | None = None) -> Feed:
    """Stop collecting a feed until it is resumed (a retired feed stays retired)."""
    feed = store.get_feed(feed_id)
    if feed.status == "retired":
        raise InvalidInput(f"feed {feed_id!r} is retired ({feed.status_reason}); resume it instead")
    return store.set_feed_status(feed_id, "paused", reason[:300], now or datetime.now(timezone.utc))


def resume_feed(store: Store, feed_id: str, now: datetime | None = None) -> Feed:
    """Collect a paused or retired feed again from the next run on, its failure count cleared."""
    return store.resume_feed(feed_id, now or datetime.now(timezone.utc))


def remove_feed(store: Store, feed_id: str) -> None:
    store.remove_feed(feed_id)  # NotFound names the feed

