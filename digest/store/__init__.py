"""Every Redis key and query digest uses. Nothing else talks to Redis.

One module per concept (feeds, topics, articles, lists, subscribers), each a
class over the same client and key builder (store/base.py); `Store` is all of them.

Layout (P is REDIS_PREFIX, default "digest"). Below, names are shown flat; each is
built by StoreBase.key, which puts the Redis Cluster hash tag in: P:list:{L}:subs is
stored as P:{list:L}:subs, P:issue:{I}:... as P:{list:L}:issue:I:..., P:article:{id}
as P:{articles}:article:id (store/base.py; README, "Data layout"):

    P:feeds                     hash  feed id -> Feed JSON
    P:feed:{id}:state           string FeedState JSON
    P:article:{id}              string Article JSON, expires after ARTICLE_TTL_DAYS
    P:articles                  zset  article id, scored by published time
    P:vec:{id}                  string the article's embedding (float16, base64), as long as the article
    P:seen:{kind}:{digest}      string article id; kind is guid, url or hash, digest the sha1 of
                                feed id and that value (dedup within a feed, expires);
                                only the keys an article has: no url key without a url,
                                no guid key without a guid
    P:lists                     hash  list slug -> DigestList JSON (its topics included)
    P:list:{L}:filed, ...       where each article is filed in the list, corrections (store/topics.py)
    P:list:{L}:story_of, ...    stories: stable ids, editors' merges and splits, pins (store/stories.py)
    P:list:{L}:archive:rev, ...  the public archive's revision, its index and feed kept by it (store/archive.py)
    P:list:{L}:render:{key}, :preflight:{key}  the next issue rendered and checked, by what it was made
                                from; expire after an hour (store/renders.py)
    P:list:{L}:draft, ...       editors' edits of the next issue, until it is planned (store/drafts.py)
    P:list:{L}:slots, issuing   scheduled time slots and their issues' states (store/schedules.py)
    P:list:{L}:subs             hash  email -> "number|mask|status|created|name" (Record)
    P:list:{L}:profile          hash  email -> JSON: locale, consent evidence, paused_until (only if any)
    P:list:{L}:seq              counter: each subscriber's number, kept for life
    P:list:{L}:bits             hash  topic slug -> bit index (never reused)
    P:list:{L}:sel:{mask}       zset  active subscribers with that topic choice, scored by number
    P:list:{L}:masks            set   the masks in use
    P:suppressed                hash  email -> reason JSON (unsubscribed anywhere, bounced, spam)
    P:suppressed:hashed         hash  sha256(email) -> reason JSON: people forgotten on request (store/suppression.py)
    P:list:{L}:import:{run}:seen, ...  one CSV import's duplicates and new pending addresses, expire (store/imports.py)
    P:issue:{I}:event:{id}, P:issue:{I}:events, ...  SendGrid events: seen ids, counts per issue (store/events.py)
    P:list:{L}:optin:{hash}     string an open confirmation request (double opt-in), expires (store/optin.py)
    P:list:{L}:paused           zset  paused subscribers by when their pause ends (store/pauses.py)
    P:limit:{name}:{n}:{hash}   counter requests per client or address in window n (store/limits.py)
    P:host:{host}:slots, :next  the collector's requests running per host and when the next may start,
                                shared by every worker (store/hosts.py)
    P:metrics:*, P:obs:*        metrics every process records, workers' and beat's heartbeats (store/metrics.py)
    P:editor:accounts, ...      editor accounts and their sign-in sessions (store/accounts.py, store/sessions.py)
    P:list:{L}:audit, P:editor:audit, P:editor:refused  who did what, when (store/audit.py)
    P:importjob:{id}, ...       web imports' progress and refused rows (store/import_jobs.py); P:editor:notice:{id}
                                what an editor's action did, across its redirect (store/notices.py)
    P:list:{L}:status_counts    subscribers by status, for the dashboard, kept a minute (store/status_counts.py)

Why this shape: a million-subscriber send must stream recipients grouped by
topic choice. Each `sel` zset is one group; ZRANGE by rank over a frozen copy
reads 1,000 members per call, and HMGET fetches their records in one round trip.
Reading a million small hashes one by one would take ~13 s; this takes ~1 s.
Mask 0 means "every topic of the list, including ones added later".
"""

from __future__ import annotations

from digest.store.accounts import AccountStore
from digest.store.archive import ArchiveCache
from digest.store.articles import ArticleStore
from digest.store.audit import AuditStore
from digest.store.base import connect
from digest.store.drafts import DraftStore
from digest.store.events import EventStore
from digest.store.feeds import FeedStore
from digest.store.hosts import HostSlots
from digest.store.limits import RateLimits
from digest.store.metrics import MetricsStore
from digest.store.optin import OptinStore
from digest.store.pauses import PauseIndex
from digest.store.renders import RenderCache
from digest.store.schedules import ScheduleStore
from digest.store.sessions import SessionStore
from digest.store.status_counts import StatusCounts
from digest.store.stories import StoryStore
from digest.store.subscribers import Record, SubscriberStore, normalize_email
from digest.store.topics import TopicStore


class Store(FeedStore, ArticleStore, TopicStore, StoryStore, SubscriberStore, ScheduleStore, EventStore,
            OptinStore, PauseIndex, RateLimits, HostSlots, AccountStore, SessionStore, AuditStore, StatusCounts,
            MetricsStore, DraftStore, RenderCache, ArchiveCache):
    @classmethod
    def from_url(cls, url: str, prefix: str = "digest") -> Store:
        """A store over Redis, or over a Redis Cluster for a redis+cluster:// URL (store/base.py)."""
        return cls(connect(url), prefix)


__all__ = ["Record", "Store", "normalize_email"]
