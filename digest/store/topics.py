"""A list's topics, and where each article of the list is filed.

    P:list:{L}:filed            hash  article id -> Filing (primary|confidence|secondary|by)
    P:list:{L}:corrections      hash  article id -> JSON {topic, title, text, at}: an editor's
                                      correction, kept (with the text it learns from) after the
                                      article itself expires
    P:list:{L}:corrections:log  list  JSON events, newest first: what `undo` takes back
    P:list:{L}:issued           hash  article id -> the issue that carried it: an article goes
                                      out in at most one issue of a list

A list's topics live in its DigestList (ordered, written in its language).
Changing them, or a correction, clears the model's filings of the list, so the
window is filed again with what the editors wrote and corrected.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from digest.errors import NotFound
from digest.models import Filing, Topic
from digest.store.lists import ListStore


class TopicStore(ListStore):
    def set_topics(self, list_slug: str, topics: list[Topic]) -> None:
        """Replace a list's topics (in this order); the window is filed again."""
        digest_list = self.get_list(list_slug)
        self.add_list(digest_list.model_copy(update={"topics": list(topics)}))
        self.forget_filings(list_slug)

    def add_topic(self, list_slug: str, topic: Topic) -> None:
        """Add a topic at the end, or change the one with that slug in place."""
        topics = self.get_list(list_slug).topics
        at = next((i for i, t in enumerate(topics) if t.slug == topic.slug), None)
        self.set_topics(list_slug, [*topics, topic] if at is None else [*topics[:at], topic, *topics[at + 1:]])

    def remove_topic(self, list_slug: str, slug: str) -> None:
        topics = self.get_list(list_slug).topics
        if slug not in {t.slug for t in topics}:
            raise NotFound(f"topic of list {list_slug!r}", slug)
        self.set_topics(list_slug, [t for t in topics if t.slug != slug])

    # -- filings ---------------------------------------------------------------

    def filings(self, list_slug: str, article_ids: Iterable[str]) -> dict[str, Filing]:
        """The stored filings of these articles (editors' corrections win); missing ones are absent."""
        ids = list(article_ids)
        if not ids:
            return {}
        with self.r.pipeline(transaction=False) as pipe:
            pipe.hmget(self.key("list", list_slug, "filed"), ids)
            pipe.hmget(self.key("list", list_slug, "corrections"), ids)
            filed, corrected = pipe.execute()
        found: dict[str, Filing] = {}
        for article_id, raw, correction in zip(ids, filed, corrected, strict=True):
            if correction:
                found[article_id] = Filing(json.loads(correction)["topic"], 1.0, (), "editor")
            elif raw:
                found[article_id] = Filing.unpack(raw)
        return found

    def file(self, list_slug: str, filings: dict[str, Filing], ttl_seconds: int) -> None:
        if filings:
            key = self.key("list", list_slug, "filed")
            with self.r.pipeline(transaction=False) as pipe:
                pipe.hset(key, mapping={i: f.pack() for i, f in filings.items()})
                pipe.expire(key, ttl_seconds)  # refreshed by every filing; articles expire sooner
                pipe.execute()

    def issued(self, list_slug: str, article_ids: Iterable[str]) -> set[str]:
        """Which of these articles an earlier issue of the list already carried."""
        ids = list(article_ids)
        if not ids:
            return set()
        found = self.r.hmget(self.key("list", list_slug, "issued"), ids)
        return {i for i, issue in zip(ids, found, strict=True) if issue}

    def mark_issued(self, list_slug: str, issue_id: str, article_ids: Iterable[str], ttl_seconds: int) -> None:
        ids = list(article_ids)
        if ids:
            key = self.key("list", list_slug, "issued")
            with self.r.pipeline(transaction=False) as pipe:
                pipe.hset(key, mapping=dict.fromkeys(ids, issue_id))
                pipe.expire(key, ttl_seconds)  # outlives the articles it names
                pipe.execute()

    def forget_filings(self, list_slug: str) -> None:
        self.r.delete(self.key("list", list_slug, "filed"))

    # -- corrections -----------------------------------------------------------

    def correct(self, list_slug: str, article_id: str, topic: str, title: str, text: str) -> None:
        """An editor files an article under `topic`; it sticks, and the list learns from it."""
        key = self.key("list", list_slug, "corrections")
        previous = self.r.hget(key, article_id)
        entry = {"topic": topic, "title": title, "text": text[:4000], "at": time.time()}
        event = {"article": article_id, "before": json.loads(previous) if previous else None, "after": entry}
        with self.r.pipeline() as pipe:
            pipe.hset(key, article_id, json.dumps(entry))
            pipe.lpush(self.key("list", list_slug, "corrections", "log"), json.dumps(event))
            pipe.ltrim(self.key("list", list_slug, "corrections", "log"), 0, 9999)
            pipe.delete(self.key("list", list_slug, "filed"))
            pipe.execute()

    def undo_correction(self, list_slug: str) -> dict[str, Any] | None:
        """Take back the newest correction (the one before it, if any, applies again)."""
        raw = self.r.lpop(self.key("list", list_slug, "corrections", "log"))
        if raw is None:
            return None
        event = json.loads(raw)
        key = self.key("list", list_slug, "corrections")
        with self.r.pipeline() as pipe:
            if event["before"]:
                pipe.hset(key, event["article"], json.dumps(event["before"]))
            else:
                pipe.hdel(key, event["article"])
            pipe.delete(self.key("list", list_slug, "filed"))
            pipe.execute()
        return event  # type: ignore[no-any-return]

    def corrections(self, list_slug: str) -> dict[str, dict[str, Any]]:
        """Every correction of a list: article id -> {topic, title, text, at}."""
        rows = self.r.hgetall(self.key("list", list_slug, "corrections"))
        return {article_id: json.loads(raw) for article_id, raw in rows.items()}
