"""Articles, kept for ARTICLE_TTL_DAYS and deduplicated atomically."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from datetime import datetime

import numpy as np
import redis

from digest.errors import NotFound
from digest.models import Article
from digest.store.base import StoreBase


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


# Saves an article unless one of its dedup keys is already taken. Atomic, so two
# workers collecting overlapping feeds never both keep the same story; so every
# article key shares the {articles} hash tag (one slot on a cluster, store/base.py).
# Before ids and dedup keys were per feed, a linked article's id was its page's
# sha1 and its keys were global: an article stored then, under that id and by
# this feed, is this one (its new keys are written, pointing at it), so upgrading
# stores no feed's items twice. Not needed once ARTICLE_TTL_DAYS have passed.
# KEYS: article, articles zset, the id it had before (linked: the page's sha1),
# then the article's dedup keys (seen:guid, seen:url, seen:hash: only those it has)
# ARGV: id, json, score, ttl seconds, feed id
_SAVE_ARTICLE = """
for i = 4, #KEYS do
  local other = redis.call('GET', KEYS[i])
  if other then return other end
end
local before = redis.call('GET', KEYS[3])
local earlier = before and cjson.decode(before)
if earlier and earlier.feed_id == ARGV[5] then
  local id = earlier.id
  local ttl = redis.call('TTL', KEYS[3])
  if ttl < 1 then ttl = ARGV[4] end
  for i = 4, #KEYS do redis.call('SET', KEYS[i], id, 'EX', ttl) end
  return id
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
for i = 4, #KEYS do redis.call('SET', KEYS[i], ARGV[1], 'EX', ARGV[4]) end
return false
"""


class ArticleStore(StoreBase):
    def __init__(self, client: redis.Redis, prefix: str = "digest") -> None:
        super().__init__(client, prefix)
        self._save_article = client.register_script(_SAVE_ARTICLE)

    def save_article(self, article: Article, ttl_seconds: int) -> str | None:
        """Keep `article` unless it duplicates one we have; return the duplicate's id if so.

        Duplicates, all within the article's feed: the same guid, the same canonical
        URL, or the same content hash (title and text). Never across feeds: the same
        page from two feeds is two articles, each shown only to the lists following
        its feed, and once to a list following both (window.window_articles), so no
        feed can take another's article away from a list or retitle it. Only keys
        that exist count: an article without a url (or a guid) has no url (or guid)
        key, so link-less articles are never each other's duplicates.
        """
        other = self._save_article(**self._save_call(article, ttl_seconds))
        return other or None

    def save_articles(self, articles: list[Article], ttl_seconds: int) -> list[str | None]:
        """`save_article` for each, in order, in one round trip (each save still atomic on its own)."""
        if not articles:
            return []
        # On the server of the {articles} slot itself: a cluster's pipeline refuses scripts.
        with self.node_client(self.key("articles")).pipeline(transaction=False) as pipe:
            for article in articles:
                self._save_article(**self._save_call(article, ttl_seconds), client=pipe)
            return [other or None for other in pipe.execute()]

    def _save_call(self, article: Article, ttl_seconds: int) -> dict[str, list[object]]:
        before = article.page_id or article.id  # the id it had before ids were per feed (script's comment)
        keys: list[object] = [self.key("article", article.id), self.key("articles"), self.key("article", before)]
        feed = article.feed_id  # every key within the feed: no feed's article stands in for another's
        if article.guid:
            keys.append(self.key("seen", "guid", _sha1(f"{feed}\n{article.guid}")))
        if article.url:
            keys.append(self.key("seen", "url", _sha1(f"{feed}\n{article.url}")))
        keys.append(self.key("seen", "hash", _sha1(f"{feed}\n{article.content_hash or article.id}")))
        return {"keys": keys, "args": [article.id, article.model_dump_json(), article.published.timestamp(),
                                       ttl_seconds, feed]}

    def seen_urls(self, feed_id: str, urls: Iterable[str]) -> set[str]:
        """Which of these canonical URLs an article of this feed already has (its seen:url key), in one round trip."""
        urls = list(dict.fromkeys(urls))
        if not urls:
            return set()
        found = self.r.mget([self.key("seen", "url", _sha1(f"{feed_id}\n{u}")) for u in urls])
        return {u for u, hit in zip(urls, found, strict=True) if hit}

    def get_articles(self, ids: Iterable[str]) -> list[Article]:
        ids = list(ids)
        if not ids:
            return []
        raws = self.r.mget([self.key("article", i) for i in ids])
        return [Article.model_validate_json(raw) for raw in raws if raw]

    def articles_between(self, start: datetime, end: datetime) -> list[Article]:
        """Articles published in [start, end), newest first. Expired ones drop out."""
        ids = self.r.zrange(
            self.key("articles"), end.timestamp(), start.timestamp(),
            byscore=True, desc=True,
        )
        found = self.get_articles(ids)
        if len(found) < len(ids):  # expired bodies: forget their ids too
            alive = {a.id for a in found}
            self.r.zrem(self.key("articles"), *[i for i in ids if i not in alive])
        return found

    def find_article(self, id_or_prefix: str) -> Article:
        """An article by its id, or by a prefix of it that names one article of the index."""
        found = self.get_articles([id_or_prefix])
        if found:
            return found[0]
        if len(id_or_prefix) >= 6:
            matches = [i for i in self.r.zscan_iter(self.key("articles"), match=f"{id_or_prefix}*", count=1000)]
            ids = sorted({i for i, _ in matches})
            if len(ids) == 1:
                return self.get_articles(ids)[0]
            if len(ids) > 1:
                raise NotFound("article (the prefix names several)", id_or_prefix)
        raise NotFound("article", id_or_prefix)

    # -- embeddings: one vector per article, kept as long as the article ----------

    def vectors(self, article_ids: Iterable[str]) -> dict[str, np.ndarray]:
        ids = list(article_ids)
        if not ids:
            return {}
        raws = self.r.mget([self.key("vec", i) for i in ids])
        return {i: np.frombuffer(base64.b64decode(raw), dtype=np.float16).astype(np.float32)
                for i, raw in zip(ids, raws, strict=True) if raw}

    def save_vectors(self, vectors: dict[str, np.ndarray], ttl_seconds: int) -> None:
        """Half-precision, base64 (the client decodes replies as text): 1.4 KB an article."""
        with self.r.pipeline(transaction=False) as pipe:
            for i, vector in vectors.items():
                pipe.set(self.key("vec", i), base64.b64encode(vector.astype(np.float16).tobytes()), ex=ttl_seconds)
            pipe.execute()
