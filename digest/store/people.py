"""One person across every list: every place their address is kept, read and erased.

Where an address lives:

    P:list:{L}:subs, :profile      their record and consent evidence on each list
    P:list:{L}:sel:{mask}          the send group they are in while active
    P:list:{L}:paused              the pause index while paused (store/pauses.py)
    P:issue:{I}:rcpt:{mask}        frozen recipients of an issue, kept after its send
    P:suppressed                   their plain suppression entry
    keys that name them            any key with the address, or its SHA-256 (whole, or its
                                   first 32 hex digits), as one ':'-separated part of its name:
                                   P:softfail:{email} (store/events.py), P:limit:...:{hash}
                                   (store/limits.py), P:list:{L}:optin:{hash} (store/optin.py).
                                   A new per-address key follows the same rule, and is found.

Erasing a frozen copy's member would shift the ranks its batches are cut by
(ledger.py), so it is replaced by an anonymous member with the same score: the
ranks stay, and the member has no record, so no batch mails it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from digest.addresses import address_hash
from digest.models import DigestList
from digest.store.subscribers import SubscriberStore

_GLOB_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\*?[]"})


@dataclass
class Membership:
    digest_list: DigestList
    record: str  # the send path's "seq|mask|status|created|name"
    profile: str | None  # consent evidence JSON
    paused_until: float | None  # score in the pause index


@dataclass
class Erased:
    lists: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    issue_copies: int = 0


class PersonStore(SubscriberStore):
    def memberships(self, email: str) -> list[Membership]:
        """The address's record on every list that has one."""
        lists = self.lists()
        with self.r.pipeline(transaction=False) as pipe:
            for lst in lists:
                pipe.hget(self.key("list", lst.slug, "subs"), email)
                pipe.hget(self.key("list", lst.slug, "profile"), email)
                pipe.zscore(self.key("list", lst.slug, "paused"), email)
            found = pipe.execute()
        return [Membership(lst, found[3 * i], found[3 * i + 1], found[3 * i + 2])
                for i, lst in enumerate(lists) if found[3 * i] is not None]

    def keys_naming(self, email: str) -> list[str]:
        """Every key with the address, or its hash, as one part of its name (module docstring)."""
        digest = address_hash(email)
        parts = {email, digest, digest[:32]}
        found: set[str] = set()
        for needle in (email.translate(_GLOB_SPECIAL), digest[:32]):
            for key in self.scan_all(f"{self.prefix}:*{needle}*", count=5000):
                if parts.intersection(key.split(":")[1:]):
                    found.add(key)
        return sorted(found)

    def key_value(self, key: str) -> Any:
        """A key's value in plain JSON types, whatever its Redis type."""
        kind = self.r.type(key)
        if kind == "string":
            return self.r.get(key)
        if kind == "hash":
            return self.r.hgetall(key)
        if kind == "set":
            return sorted(self.r.smembers(key))
        if kind == "zset":
            return dict(self.r.zrange(key, 0, -1, withscores=True))
        if kind == "list":
            return self.r.lrange(key, 0, -1)
        return None

    def frozen_copies_with(self, email: str) -> list[tuple[str, float]]:
        """The issue recipient copies that hold the address, with its score in each."""
        keys = list(self.scan_all(f"{self.prefix}:*:issue:*:rcpt:*", count=5000))  # every master of a cluster
        with self.r.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zscore(key, email)
            scores = pipe.execute()
        return [(k, s) for k, s in zip(keys, scores, strict=True) if s is not None]

    def erase(self, email: str) -> Erased:
        """Delete the address everywhere (module docstring); suppression is the caller's to keep."""
        erased = Erased()
        members = self.memberships(email)
        copies = self.frozen_copies_with(email)
        erased.keys = self.keys_naming(email)
        # One MULTI per cluster slot (on one Redis too): per list (its records and its issues'
        # copies), per named key, the suppression entry. The caller suppressed the address
        # first, so a crash between two of them mails no one; forgetting again finishes it.
        steps: dict[int, list[tuple[str, str, tuple[Any, ...]]]] = defaultdict(list)  # slot -> (command, key, args)

        def step(command: str, key: str, *args: Any) -> None:
            steps[self._slot(key)].append((command, key, args))

        for m in members:
            slug = m.digest_list.slug
            mask = m.record.split("|", 2)[1]
            step("hdel", self.key("list", slug, "subs"), email)
            step("hdel", self.key("list", slug, "profile"), email)
            step("zrem", self.key("list", slug, "sel", mask), email)
            step("zrem", self.key("list", slug, "paused"), email)
            erased.lists.append(slug)
        for key, score in copies:
            step("zrem", key, email)
            step("zadd", key, {f"forgotten:{uuid.uuid4().hex}": score})
        for key in erased.keys:
            step("delete", key)
        step("hdel", self.key("suppressed"), email)
        for commands in steps.values():
            with self.r.pipeline() as pipe:
                for command, key, args in commands:
                    getattr(pipe, command)(key, *args)
                pipe.execute()
        erased.issue_copies = len(copies)
        return erased
