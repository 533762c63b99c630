"""Feeds and what the collector remembers about each."""

from __future__ import annotations

from digest.errors import NotFound
from digest.models import Feed, FeedState
from digest.store.base import StoreBase


class FeedStore(StoreBase):
    def add_feed(self, feed: Feed) -> None:
        self.r.hset(self.key("feeds"), feed.id, feed.model_dump_json())

    def get_feed(self, feed_id: str) -> Feed:
        raw = self.r.hget(self.key("feeds"), feed_id)
        if raw is None:
            raise NotFound("feed", feed_id)
        return Feed.model_validate_json(raw)

    def feeds(self) -> list[Feed]:
        rows = self.r.hgetall(self.key("feeds"))
        return sorted((Feed.model_validate_json(v) for v in rows.values()), key=lambda f: f.id)

    def remove_feed(self, feed_id: str) -> None:
        if not self.r.hdel(self.key("feeds"), feed_id):
            raise NotFound("feed", feed_id)
        self.r.delete(self.key("feed", feed_id, "state"))

    def feed_state(self, feed_id: str) -> FeedState:
        raw = self.r.get(self.key("feed", feed_id, "state"))
        return FeedState.model_validate_json(raw) if raw else FeedState()

    def save_feed_state(self, feed_id: str, state: FeedState) -> None:
        self.r.set(self.key("feed", feed_id, "state"), state.model_dump_json())
