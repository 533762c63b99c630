"""Topics articles are grouped by."""

from __future__ import annotations

from digest.errors import NotFound
from digest.models import Topic
from digest.store.base import StoreBase


class TopicStore(StoreBase):
    def add_topic(self, topic: Topic) -> None:
        self.r.hset(self.key("topics"), topic.slug, topic.model_dump_json())

    def get_topic(self, slug: str) -> Topic:
        raw = self.r.hget(self.key("topics"), slug)
        if raw is None:
            raise NotFound("topic", slug)
        return Topic.model_validate_json(raw)

    def topics(self) -> list[Topic]:
        rows = self.r.hgetall(self.key("topics"))
        return sorted((Topic.model_validate_json(v) for v in rows.values()), key=lambda t: t.slug)

    def remove_topic(self, slug: str) -> None:
        if not self.r.hdel(self.key("topics"), slug):
            raise NotFound("topic", slug)
