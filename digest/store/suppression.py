"""The suppression list: addresses no list ever mails again.

    P:suppressed            hash  email -> JSON {reason, at}: bounced, blocked, spam report, ...
    P:suppressed:hashed     hash  sha256(email) -> JSON {reason, at}: people who asked to be forgotten

A forgotten person (digest/people.py) leaves no address behind, only the SHA-256
of their normalised address, so that an import, an add, a sign-up, a confirmation
or a send that meets the address again knows it is suppressed. `suppressed()`
answers for both hashes in one round trip; every path asks it.

The hash is not keyed, on purpose. It must go on matching for as long as digest
runs: across SECRET_KEY rotations (rotating after a leak is exactly when a keyed
hash would quietly un-suppress everyone forgotten), restores and moves to a new
installation. A key would only stop someone who holds a copy of this Redis and a
list of candidate addresses from confirming that one of them was forgotten; such
a copy holds every current reader's address in clear, so the hash is not the weak
point. The person can check their own entry: it is in their export.
"""

from __future__ import annotations

import json
import time
from typing import Any

from digest.addresses import address_hash, normalize_email
from digest.store.base import StoreBase


class SuppressionStore(StoreBase):
    @property
    def hashed_suppression_key(self) -> str:
        return self.key("suppressed", "hashed")

    def suppress(self, email: str, reason: str) -> None:
        """Never send to this address again, on any list (bounce, block, spam report)."""
        self.r.hset(self.key("suppressed"), normalize_email(email), _entry(reason))

    def suppressed(self, emails: list[str]) -> list[bool]:
        """For each normalised address: is it on the suppression list, plainly or hashed?"""
        if not emails:
            return []
        with self.r.pipeline(transaction=False) as pipe:
            pipe.hmget(self.key("suppressed"), emails)
            pipe.hmget(self.hashed_suppression_key, [address_hash(e) for e in emails])
            plain, hashed = pipe.execute()
        return [p is not None or h is not None for p, h in zip(plain, hashed, strict=True)]

    def suppression_entries(self, email: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The address's plain and hashed entries ({reason, at}), None where it has none."""
        with self.r.pipeline(transaction=False) as pipe:
            pipe.hget(self.key("suppressed"), email)
            pipe.hget(self.hashed_suppression_key, address_hash(email))
            plain, hashed = pipe.execute()
        return (json.loads(plain) if plain else None), (json.loads(hashed) if hashed else None)

    def suppress_hashed(self, email: str, reason: str = "forgotten on request") -> None:
        """Keep only the hash: the hashed entry is written, the plain one (if any) dropped."""
        with self.r.pipeline() as pipe:
            pipe.hset(self.hashed_suppression_key, address_hash(email), _entry(reason))
            pipe.hdel(self.key("suppressed"), email)
            pipe.execute()


def _entry(reason: str) -> str:
    return json.dumps({"reason": reason, "at": int(time.time())})
