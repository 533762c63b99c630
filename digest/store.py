"""Every Redis key and query digest uses. Nothing else talks to Redis.

Layout (P is REDIS_PREFIX, default "digest"):

    P:feeds                     hash  feed id -> Feed JSON
    P:feed:{id}:state           string FeedState JSON
    P:topics                    hash  topic slug -> Topic JSON
    P:article:{id}              string Article JSON, expires after ARTICLE_TTL_DAYS
    P:articles                  zset  article id, scored by published time
    P:seen:{kind}:{digest}      string article id; kind is guid, url or hash (dedup, expires);
                                only the keys an article has: no url key without a url,
                                no guid key without a guid
    P:lists                     hash  list slug -> DigestList JSON
    P:list:{L}:subs             hash  email -> "number|mask|status|created|name" (Record)
    P:list:{L}:seq              counter: each subscriber's number, kept for life
    P:list:{L}:bits             hash  topic slug -> bit index (never reused)
    P:list:{L}:sel:{mask}       zset  active subscribers with that topic choice, scored by number
    P:list:{L}:masks            set   the masks in use
    P:suppressed                hash  email -> reason JSON (unsubscribed anywhere, bounced, spam)

Why this shape: a million-subscriber send must stream recipients grouped by
topic choice. Each `sel` zset is one group; ZRANGE by rank over a frozen copy
reads 1,000 members per call, and HMGET fetches their records in one round trip.
Reading a million small hashes one by one would take ~13 s; this takes ~1 s.
Mask 0 means "every topic of the list, including ones added later".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import NamedTuple

import redis
from email_validator import EmailNotValidError, validate_email

from digest.errors import InvalidInput, NotFound
from digest.models import (
    MORE_NEWS,
    Article,
    DigestList,
    Feed,
    FeedState,
    Subscriber,
    Topic,
)


def normalize_email(raw: str) -> str:
    try:
        info = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(f"invalid email address {raw!r}: {exc}") from None
    return info.normalized.lower()


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


# Saves an article unless one of its dedup keys is already taken. Atomic, so two
# workers collecting overlapping feeds never both keep the same story.
# KEYS: article, articles zset, then the article's dedup keys (seen:guid, seen:url,
# seen:hash: only those it has, so 1 to 3)
# ARGV: id, json, score, ttl seconds
_SAVE_ARTICLE = """
for i = 3, #KEYS do
  local other = redis.call('GET', KEYS[i])
  if other then return other end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
for i = 3, #KEYS do redis.call('SET', KEYS[i], ARGV[1], 'EX', ARGV[4]) end
return false
"""


class Store:
    def __init__(self, client: redis.Redis, prefix: str = "digest") -> None:
        self.r = client
        self.prefix = prefix
        self._save_article = client.register_script(_SAVE_ARTICLE)

    @classmethod
    def from_url(cls, url: str, prefix: str = "digest") -> Store:
        return cls(redis.Redis.from_url(url, decode_responses=True), prefix)

    def key(self, *parts: object) -> str:
        return ":".join([self.prefix, *map(str, parts)])

    # -- feeds -----------------------------------------------------------------

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

    # -- topics ----------------------------------------------------------------

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

    # -- articles --------------------------------------------------------------

    def save_article(self, article: Article, ttl_seconds: int) -> str | None:
        """Keep `article` unless it duplicates one we have; return the duplicate's id if so.

        Duplicates: the same guid in the same feed, the same canonical URL, or the
        same content hash (title and text), whichever source it came from. Only
        keys that exist count: an article without a url (or a guid) has no url
        (or guid) key, so link-less articles are never each other's duplicates.
        """
        keys = [self.key("article", article.id), self.key("articles")]
        if article.guid:
            keys.append(self.key("seen", "guid", _sha1(f"{article.feed_id}\n{article.guid}")))
        if article.url:
            keys.append(self.key("seen", "url", _sha1(article.url)))
        keys.append(self.key("seen", "hash", article.content_hash or _sha1(article.id)))
        score = article.published.timestamp()
        other = self._save_article(
            keys=keys, args=[article.id, article.model_dump_json(), score, ttl_seconds]
        )
        return other or None

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

    def update_article_topics(self, article_id: str, topics: list[str]) -> None:
        key = self.key("article", article_id)
        raw = self.r.get(key)
        if raw is None:
            raise NotFound("article", article_id)
        article = Article.model_validate_json(raw)
        article.topics = topics
        self.r.set(key, article.model_dump_json(), keepttl=True)

    # -- lists -----------------------------------------------------------------

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
        slugs = digest_list.topics or [t.slug for t in self.topics()]
        return [*slugs, MORE_NEWS]

    # -- subscribers -----------------------------------------------------------

    def _bits(self, list_slug: str, topics: Iterable[str]) -> int:
        """Bit mask for a topic choice; registers unseen topics with the next free bit."""
        key = self.key("list", list_slug, "bits")
        known = self.r.hgetall(key)
        mask = 0
        for slug in topics:
            if slug not in known:
                self.r.hsetnx(key, slug, self.r.hlen(key))
                known = self.r.hgetall(key)
            mask |= 1 << int(known[slug])
        return mask

    def topics_of_mask(self, list_slug: str, mask: int) -> set[str] | None:
        """The topic slugs a mask stands for; None for 0, "everything"."""
        if mask == 0:
            return None
        bits = self.r.hgetall(self.key("list", list_slug, "bits"))
        return {slug for slug, bit in bits.items() if mask >> int(bit) & 1}

    def _check_topics(self, digest_list: DigestList, topics: Iterable[str]) -> list[str]:
        allowed = self.list_topics(digest_list)
        chosen = list(dict.fromkeys(topics))
        for slug in chosen:
            if slug not in allowed:
                raise NotFound(f"topic of list {digest_list.slug!r}", slug)
        return chosen

    def add_subscriber(self, list_slug: str, subscriber: Subscriber) -> Subscriber:
        """Add or update one subscriber; returns it with its normalized address."""
        email = normalize_email(subscriber.email)
        self.add_subscribers(list_slug, [subscriber])
        return subscriber.model_copy(update={"email": email})

    def add_subscribers(self, list_slug: str, rows: Iterable[Subscriber], chunk: int = 1000) -> int:
        """Bulk add or update, 1,000 rows per round trip; returns how many were written.

        Every row is validated before its chunk is written, so one bad row raises
        before anything of its chunk lands (callers wanting per-row errors, like
        the CSV import, use add_subscriber).
        """
        digest_list = self.get_list(list_slug)
        subs = self.key("list", list_slug, "subs")
        masks_by_choice: dict[tuple[str, ...], int] = {}
        written = 0
        batch: list[Subscriber] = []

        def flush() -> None:
            emails = [normalize_email(s.email) for s in batch]
            olds = self.r.hmget(subs, emails)
            new_count = sum(1 for o in olds if o is None)
            last = self.r.incrby(self.key("list", list_slug, "seq"), new_count) if new_count else 0
            next_seq = last - new_count + 1
            with self.r.pipeline(transaction=False) as pipe:
                for sub, email, old in zip(batch, emails, olds, strict=True):
                    choice = tuple(sub.topics or ())
                    if choice not in masks_by_choice:
                        chosen = self._check_topics(digest_list, choice)
                        masks_by_choice[choice] = self._bits(list_slug, chosen) if chosen else 0
                    mask = masks_by_choice[choice]
                    if old is not None:
                        rec = Record.unpack(old)
                        seq, created = rec.seq, rec.created
                        pipe.zrem(self.key("list", list_slug, "sel", rec.mask), email)
                    else:
                        seq, created, next_seq = next_seq, int(sub.created_at.timestamp()), next_seq + 1
                    pipe.hset(subs, email, Record(seq, mask, sub.status, created, sub.name).pack())
                    if sub.status == "active":
                        pipe.zadd(self.key("list", list_slug, "sel", mask), {email: seq})
                pipe.sadd(self.key("list", list_slug, "masks"), *set(masks_by_choice.values()))
                pipe.execute()

        for sub in rows:
            batch.append(sub)
            if len(batch) >= chunk:
                flush()
                written += len(batch)
                batch = []
        if batch:
            flush()
            written += len(batch)
        return written

    def get_subscriber(self, list_slug: str, email: str) -> Subscriber:
        email = normalize_email(email)
        raw = self.r.hget(self.key("list", list_slug, "subs"), email)
        if raw is None:
            raise NotFound("subscriber", email)
        return self._subscriber(list_slug, email, raw)

    def _subscriber(self, list_slug: str, email: str, raw: str) -> Subscriber:
        rec = Record.unpack(raw)
        topics = self.topics_of_mask(list_slug, rec.mask)
        return Subscriber(
            email=email, name=rec.name, status=rec.status,
            topics=sorted(topics) if topics is not None else None,
            created_at=datetime.fromtimestamp(rec.created, timezone.utc),
        )

    def subscribers(self, list_slug: str) -> Iterator[Subscriber]:
        """Every subscriber of a list, any status, streamed with HSCAN."""
        self.get_list(list_slug)
        for email, raw in self.r.hscan_iter(self.key("list", list_slug, "subs"), count=1000):
            yield self._subscriber(list_slug, email, raw)

    def subscriber_count(self, list_slug: str) -> int:
        return sum(self.r.zcard(self.key("list", list_slug, "sel", m)) for m in self.masks(list_slug))

    def masks(self, list_slug: str) -> list[int]:
        return sorted(int(m) for m in self.r.smembers(self.key("list", list_slug, "masks")))

    def unsubscribe(self, list_slug: str, email: str, reason: str = "unsubscribed") -> bool:
        """Mark a subscriber unsubscribed; True if they were active. Idempotent."""
        email = normalize_email(email)
        subs = self.key("list", list_slug, "subs")
        raw = self.r.hget(subs, email)
        if raw is None:
            raise NotFound("subscriber", email)
        rec = Record.unpack(raw)
        was_active = rec.status == "active"
        with self.r.pipeline() as pipe:
            pipe.hset(subs, email, rec._replace(status=reason).pack())
            pipe.zrem(self.key("list", list_slug, "sel", rec.mask), email)
            pipe.execute()
        return was_active

    # -- suppression -----------------------------------------------------------

    def suppress(self, email: str, reason: str) -> None:
        """Never send to this address again, on any list (bounce, block, spam report)."""
        email = normalize_email(email)
        self.r.hset(
            self.key("suppressed"), email,
            json.dumps({"reason": reason, "at": int(datetime.now(timezone.utc).timestamp())}),
        )

    def suppressed(self, emails: list[str]) -> list[bool]:
        if not emails:
            return []
        return [v is not None for v in self.r.hmget(self.key("suppressed"), emails)]


class Record(NamedTuple):
    """A subscriber as the send path reads it: one split, no JSON (a million per send)."""

    seq: int  # the subscriber's number, kept for life
    mask: int  # topic choice; 0 is "everything"
    status: str  # active | unsubscribed | ...
    created: int  # Unix time
    name: str

    def pack(self) -> str:
        return f"{self.seq}|{self.mask}|{self.status}|{self.created}|{self.name}"

    @classmethod
    def unpack(cls, raw: str) -> Record:
        seq, mask, status, created, name = raw.split("|", 4)  # the name may hold "|"
        return cls(int(seq), int(mask), status, int(created), name)
