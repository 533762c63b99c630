"""The Redis client and the one key builder every part of the store uses.

Keys carry a Redis Cluster hash tag (the part in braces): keys that one Lua
script, MULTI or COPY touches together hash to one slot, so the store runs on a
cluster as on one Redis (README, "Data layout"):

    P:{list:L}:...              everything of list L, its issues too (P:{list:L}:issue:I:...)
    P:{articles}:...            articles, their index, dedup keys and vectors
    P:{feeds}:...               feeds and their states
    P:{suppressed}, ...:hashed  the suppression list
    P:{editor}:...              accounts, sessions, notices, the editors' audit
    P:{host:H}:..., P:{events}:..., P:{redbeat}:...  a host's slots, unmatched events, beat
    P:anything:else             a key no script shares: spread over the cluster untagged

`key` takes the parts of the old flat name (P:list:L:subs was key("list", L, "subs")),
so callers did not change and `digest store migrate` renames P:a:b:c to key("a", "b", "c").
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

# Key families kept together in one slot, by their first part (see the module docstring).
_GROUPS = {"article": "articles", "articles": "articles", "seen": "articles", "vec": "articles",
           "feeds": "feeds", "feed": "feeds", "suppressed": "suppressed", "editor": "editor",
           "events": "events", "redbeat": "redbeat"}
# Issue ids name their list: L-YYYYMMDD-n (send now) or L-YYYYMMDDTHHMMZ (a scheduled slot).
_ISSUE_ID = re.compile(r"^(?P<list>[a-z0-9][a-z0-9-]*?)-\d{8}(?:T\d{4}Z|-\d+)$")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")


def issue_list(issue_id: str) -> str | None:
    """The list an issue id belongs to; None for an id of no known shape."""
    found = _ISSUE_ID.match(issue_id)
    return found["list"] if found else None


def key_name(prefix: str, *parts: object) -> str:
    """The key for the parts of its flat name, hash tag included (module docstring)."""
    head, *rest = map(str, parts)
    if head == "list" and rest:
        return ":".join([prefix, f"{{list:{rest[0]}}}", *rest[1:]])
    if head == "issue" and rest:
        owner = issue_list(rest[0])
        tag = f"{{list:{owner}}}" if owner else f"{{issue:{rest[0]}}}"
        return ":".join([prefix, tag, head, *rest])
    if head == "host" and rest:
        return ":".join([prefix, f"{{host:{rest[0]}}}", *rest[1:]])
    if head in _GROUPS:
        return ":".join([prefix, f"{{{_GROUPS[head]}}}", head, *rest])
    return ":".join([prefix, head, *rest])


def is_cluster_url(url: str) -> bool:
    return urlsplit(url).scheme in CLUSTER_SCHEMES


def plain_url(url: str) -> str:
    """redis+cluster://host:port -> redis://host:port: a seed node, as redis-py and redbeat take it."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=parts.scheme.removesuffix("+cluster"))) if is_cluster_url(url) else url


def connect(url: str, **options: Any) -> redis.Redis | RedisCluster:
    """A client for the store: RedisCluster for a redis+cluster:// URL (any node of it), else Redis."""
    if is_cluster_url(url):
        return RedisCluster.from_url(plain_url(url), decode_responses=True, **options)
    return redis.Redis.from_url(url, decode_responses=True, **options)


class StoreBase:
    """The client and the key prefix. Every key digest uses is built by `key`."""

    def __init__(self, client: redis.Redis | RedisCluster, prefix: str = "digest") -> None:
        self.r = client
        self.prefix = prefix

    @property
    def cluster(self) -> bool:
        return isinstance(self.r, RedisCluster)

    def key(self, *parts: object) -> str:
        return key_name(self.prefix, *parts)

    def _slot(self, key: str) -> int:
        """The key's cluster slot, on one Redis too: code that groups by it runs the same on both."""
        return key_slot(key.encode())

    def node_client(self, key: str) -> redis.Redis:
        """The plain client of the server holding `key` (itself, when not a cluster): for a
        connection of our own on which to pipeline scripts (store/imports.py)."""
        if isinstance(self.r, RedisCluster):
            return self.r.get_node_from_key(key).redis_connection  # type: ignore[return-value]
        return self.r

    def mget_any(self, keys: list[str]) -> list[Any]:
        """MGET of keys that may lie in different slots (split per slot on a cluster)."""
        if isinstance(self.r, RedisCluster):
            return self.r.mget_nonatomic(keys)
        return self.r.mget(keys)

    def scan_all(self, match: str, count: int = 1000) -> Any:
        """SCAN over every master of a cluster (RedisCluster.scan_iter does), or the one server."""
        return self.r.scan_iter(match, count=count)
