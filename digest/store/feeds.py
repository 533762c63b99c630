"""Feeds and what the collector remembers about each."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import redis

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

    def update_feed(self, feed_id: str, **changes: Any) -> Feed:
        """Change some fields of a stored feed, validated; NotFound if it is gone.

        Read, change and write under WATCH, so a concurrent edit (an editor's, or
        another worker's) is re-read rather than overwritten.
        """
        key = self.key("feeds")
        updated: list[Feed] = []

        def change(pipe: redis.client.Pipeline) -> None:
            raw = pipe.hget(key, feed_id)
            if raw is None:
                raise NotFound("feed", feed_id)
            feed = Feed.model_validate({**Feed.model_validate_json(raw).model_dump(), **changes})
            pipe.multi()
            pipe.hset(key, feed_id, feed.model_dump_json())
            updated[:] = [feed]

        self.r.transaction(change, key)
        return updated[0]

    def set_feed_status(self, feed_id: str, status: str, reason: str, since: datetime) -> Feed:
        """Pause, retire or reactivate a feed, saying why."""
        return self.update_feed(feed_id, status=status, status_reason=reason, status_since=since)

    def resume_feed(self, feed_id: str, now: datetime) -> Feed:
        """Make a paused or retired feed active again, its error count and wait cleared."""
        feed = self.set_feed_status(feed_id, "active", "", now)
        state = self.feed_state(feed_id)
        state.error_count, state.next_fetch_at = 0, None
        self.save_feed_state(feed_id, state)
        return feed

    def feed_state(self, feed_id: str) -> FeedState:
        raw = self.r.get(self.key("feed", feed_id, "state"))
        return FeedState.model_validate_json(raw) if raw else FeedState()

    def feed_states(self, feed_ids: Iterable[str]) -> dict[str, FeedState]:
        """The states of many feeds in one round trip."""
        ids = list(feed_ids)
        if not ids:
            return {}
        raws = self.r.mget([self.key("feed", i, "state") for i in ids])
        return {i: FeedState.model_validate_json(raw) if raw else FeedState() for i, raw in zip(ids, raws, strict=True)}

    def save_feed_state(self, feed_id: str, state: FeedState) -> None:
        self.r.set(self.key("feed", feed_id, "state"), state.model_dump_json())
