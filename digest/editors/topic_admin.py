"""A list's topics as its editors manage them: saved, deleted, and what each catches now.

Saving or deleting a topic replaces the list's topics (store/topics.py), which
clears the model's filings of the list: the window is filed again, with the new
topics, at the next preview or issue (as `digest topics add` does).

What a topic catches is read from the current filings only: filing the window
means embedding it, which is the preview's work, not a page's. After an edit
there is nothing filed until then, and the page says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError

from digest.errors import InvalidInput, NotFound
from digest.models import MORE_NEWS, Article, DigestList, Topic
from digest.store import Store
from digest.window import window_articles

CAUGHT_SHOWN = 5  # newest articles shown per topic


def split_keywords(value: str) -> list[str]:
    """Keywords as typed: separated by commas, semicolons or line breaks."""
    return [k.strip() for k in value.replace(";", ",").replace("\n", ",").split(",") if k.strip()]


def save_topic(store: Store, list_slug: str, slug: str, name: str, description: str = "",
               keywords: list[str] | None = None, *, new: bool = False) -> Topic:
    """Add a topic at the end of the list's, or change the one with this slug in place.

    `new`: refuse a slug the list already has (a create form must not overwrite).
    """
    try:
        topic = Topic(slug=slug.strip(), name=name, description=description, keywords=keywords or [])
    except ValidationError as exc:
        msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                        for e in exc.errors())
        raise InvalidInput(f"invalid topic: {msg}") from None
    existing = {t.slug for t in store.get_list(list_slug).topics}
    if new and topic.slug in existing:
        raise InvalidInput(f"the list has a topic {topic.slug!r} already; edit it instead")
    if not new and topic.slug not in existing:
        raise NotFound(f"topic of list {list_slug!r}", topic.slug)
    store.add_topic(list_slug, topic)
    return topic


def delete_topic(store: Store, list_slug: str, slug: str) -> None:
    store.remove_topic(list_slug, slug)  # NotFound names the topic


@dataclass
class Catch:
    """What one topic (or More news) holds of the window, as last filed."""

    count: int = 0
    newest: list[Article] = field(default_factory=list)


@dataclass
class Catches:
    by_topic: dict[str, Catch]
    window: int  # articles in the list's window
    filed: int  # of them, filed (0 after an edit, until the next preview)


def topic_catches(store: Store, digest_list: DigestList, now: datetime) -> Catches:
    """Each topic's articles in the window (newest first), from the stored filings."""
    window = window_articles(store, digest_list, now)
    newest_first = sorted(window, key=lambda a: a.published, reverse=True)
    filings = store.filings(digest_list.slug, (a.id for a in newest_first))
    by_topic = {t.slug: Catch() for t in digest_list.topics} | {MORE_NEWS: Catch()}
    for article in newest_first:
        filing = filings.get(article.id)
        if filing is None:
            continue
        catch = by_topic.get(filing.primary)
        if catch is None:  # filed under a topic deleted since
            continue
        catch.count += 1
        if len(catch.newest) < CAUGHT_SHOWN:
            catch.newest.append(article)
    return Catches(by_topic, len(window), len(filings))
