"""The Redis client and the one key builder every part of the store uses."""

from __future__ import annotations

import redis


class StoreBase:
    """The client and the key prefix. Every key digest uses is built by `key`."""

    def __init__(self, client: redis.Redis, prefix: str = "digest") -> None:
        self.r = client
        self.prefix = prefix

    def key(self, *parts: object) -> str:
        return ":".join([self.prefix, *map(str, parts)])
