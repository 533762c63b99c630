"""Builders for domain objects in tests: articles for a week, a list's readers."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

from digest.models import MORE_NEWS, Article, Feed, Filing, Subscriber
from digest.store import Store


def event_words(key: str, count: int = 6) -> str:
    """Made-up names for one event, so that no two test articles tell the same story."""
    digest = b"".join(hashlib.sha256(f"{key}/{i}".encode()).digest() for i in range(1 + count * 6 // 32))
    letters = "abcdefghijklmnopqrstuvwxyz"
    return " ".join("".join(letters[b % 26] for b in digest[i * 6:i * 6 + 6]).title() for i in range(count))


def article(n: int, topic: str | None, *, days_ago: float = 1.0, feed: str = "planet") -> Article:
    url = f"https://news.example/{topic or 'misc'}/{n}"
    own = event_words(url)
    story = f"{event_words(url + 'a', 30)} in {topic or 'the world'}."  # made-up people and places: one event
    return Article(
        id=hashlib.sha1(url.encode()).hexdigest(),
        feed_id=feed,
        source="Planet News",
        title=f"{(topic or 'other').title()} story number {n}: {own.split()[0]} {own.split()[1]}",
        url=url,
        guid=url,
        published=datetime.now(timezone.utc) - timedelta(days=days_ago, minutes=n),
        summary_html=f"<p>{story}</p>",
        summary_text=story,
        content_hash=hashlib.sha1(f"{topic}{n}".encode()).hexdigest(),
    )


def file_as(store: Store, articles: list[Article], topic: str | None, list_slug: str = "weekly",
            secondary: tuple[str, ...] = ()) -> None:
    """File articles of a list under a topic, as the list's assignment would (None: More news)."""
    store.file(list_slug, {a.id: Filing(topic or MORE_NEWS, 1.0, secondary) for a in articles}, 86400)


def seed_week(store: Store, topics: list[str], per_topic: int = 3, unmatched: int = 2,
              list_slug: str = "weekly") -> list[Article]:
    """Articles of the past week for each topic, saved and filed in the list, plus some for More news."""
    made = []
    for topic in [*topics, None]:
        batch = [article(i, topic) for i in range(per_topic if topic else unmatched)]
        for a in batch:
            store.save_article(a, 86400)
        file_as(store, batch, topic, list_slug)
        made += batch
    return made


def readers(n: int, choices: list[list[str] | None], domain: str = "example.com") -> list[Subscriber]:
    """n subscribers cycling through the given topic choices (None = everything)."""
    return [Subscriber(email=f"reader{i}@{domain}", name=f"Reader {i}", topics=choices[i % len(choices)])
            for i in range(n)]


def add_feed(store: Store, feed_id: str, url: str) -> Feed:
    feed = Feed(id=feed_id, url=url)
    store.add_feed(feed)
    return feed
