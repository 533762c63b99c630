"""Stories of a list: which articles tell the same event, and what editors decided about them.

    P:list:{L}:story_of         hash  article id -> story id, kept so a story keeps its id across
                                      runs (an article arriving on Tuesday joins Monday's story)
    P:list:{L}:story_links      hash  "a|b" (two article ids, sorted) -> must | cannot: an
                                      editor's merge or split; it sticks
    P:list:{L}:pins             set   story ids an editor pinned to the top of their section
"""

from __future__ import annotations

from collections.abc import Iterable

from digest.store.base import StoreBase


def pair(a: str, b: str) -> str:
    return "|".join(sorted((a, b)))


class StoryStore(StoreBase):
    def story_ids(self, list_slug: str, article_ids: Iterable[str]) -> dict[str, str]:
        ids = list(article_ids)
        if not ids:
            return {}
        found = self.r.hmget(self.key("list", list_slug, "story_of"), ids)
        return {a: s for a, s in zip(ids, found, strict=True) if s}

    def save_story_ids(self, list_slug: str, story_of: dict[str, str], ttl_seconds: int) -> None:
        if story_of:
            key = self.key("list", list_slug, "story_of")
            with self.r.pipeline(transaction=False) as pipe:
                pipe.hset(key, mapping=story_of)
                pipe.expire(key, ttl_seconds)
                pipe.execute()

    def story_members(self, list_slug: str, story_id: str) -> list[str]:
        """The article ids of a story (as the last grouping left it)."""
        rows = self.r.hscan_iter(self.key("list", list_slug, "story_of"), count=1000)
        return sorted(a for a, s in rows if s == story_id)

    def story_links(self, list_slug: str) -> dict[tuple[str, str], str]:
        rows = self.r.hgetall(self.key("list", list_slug, "story_links"))
        return {tuple(k.split("|", 1)): v for k, v in rows.items()}  # type: ignore[misc]

    def link_articles(self, list_slug: str, pairs: Iterable[tuple[str, str]], kind: str) -> None:
        """Record an editor's decision on article pairs: must (same story) or cannot (never)."""
        mapping = {pair(a, b): kind for a, b in pairs if a != b}
        if mapping:
            self.r.hset(self.key("list", list_slug, "story_links"), mapping=mapping)

    def pins(self, list_slug: str) -> set[str]:
        return self.r.smembers(self.key("list", list_slug, "pins"))  # type: ignore[return-value]

    def pin(self, list_slug: str, story_id: str, on: bool = True) -> None:
        key = self.key("list", list_slug, "pins")
        if on:
            self.r.sadd(key, story_id)
        else:
            self.r.srem(key, story_id)
