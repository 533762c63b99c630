"""Mailing lists: who they are from, their language, their topics."""

from __future__ import annotations

from digest.errors import NotFound
from digest.models import MORE_NEWS, DigestList
from digest.store.base import StoreBase


class ListStore(StoreBase):
    def add_list(self, digest_list: DigestList) -> None:
        self.r.hset(self.key("lists"), digest_list.slug, digest_list.model_dump_json())

    def get_list(self, slug: str) -> DigestList:
        raw = self.r.hget(self.key("lists"), slug)
        if raw is None:
            raise NotFound("list", slug)
        return DigestList.model_validate_json(raw)

    def lists(self) -> list[DigestList]:
        rows = self.r.hgetall(self.key("lists"))
        return sorted((DigestList.model_validate_json(v) for v in rows.values()), key=lambda x: x.slug)

    def list_topics(self, digest_list: DigestList) -> list[str]:
        """The topic slugs a list carries, in order, with "More news" last."""
        return [*(t.slug for t in digest_list.topics), MORE_NEWS]
