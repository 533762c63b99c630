"""Subscribers of each list, in the shape a million-recipient send reads."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import NamedTuple

from digest.addresses import normalize_email
from digest.errors import InvalidInput, NotFound
from digest.models import PROFILE_FIELDS, DigestList, Subscriber
from digest.store.lists import ListStore
from digest.store.suppression import SuppressionStore


class SubscriberStore(ListStore, SuppressionStore):
    """Subscribers need their list (its topics decide which choices are valid) and the suppression list."""

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

    def topic_bits(self, list_slug: str) -> dict[str, int]:
        """Each topic's bit in the list's masks; read it once and call mask_topics per mask."""
        return {slug: int(bit) for slug, bit in self.r.hgetall(self.key("list", list_slug, "bits")).items()}

    def topics_of_mask(self, list_slug: str, mask: int) -> set[str] | None:
        """The topic slugs a mask stands for; None for 0, "everything" (one round trip:
        for many masks, topic_bits once and mask_topics)."""
        return mask_topics(self.topic_bits(list_slug) if mask else {}, mask)

    def _check_topics(self, digest_list: DigestList, topics: Iterable[str]) -> list[str]:
        allowed = self.list_topics(digest_list)
        chosen = list(dict.fromkeys(topics))
        for slug in chosen:
            if slug not in allowed:
                raise NotFound(f"topic of list {digest_list.slug!r}", slug)
        return chosen

    def choice_mask(self, digest_list: DigestList, topics: Iterable[str]) -> int:
        """The mask of a topic choice (0: every topic); NotFound for a topic the list does not carry."""
        chosen = self._check_topics(digest_list, topics)
        return self._bits(digest_list.slug, chosen) if chosen else 0

    def add_subscriber(self, list_slug: str, subscriber: Subscriber) -> Subscriber:
        """Add or update one subscriber; returns it with its normalized address."""
        email = normalize_email(subscriber.email)
        self.add_subscribers(list_slug, [subscriber])
        return subscriber.model_copy(update={"email": email})

    def add_subscribers(
        self, list_slug: str, rows: Iterable[Subscriber], chunk: int = 1000, *, reactivate: bool = False,
    ) -> int:
        """Bulk add or update, 1,000 rows per round trip; returns how many were written.

        Consent is never made up: a subscriber who unsubscribed (or bounced, or
        complained) stays so when added or imported again, unless `reactivate` (the
        reader themselves confirming again); an address on the suppression list is
        kept as "suppressed", never active. Every row is validated before its chunk
        is written, so one bad row raises before anything of its chunk lands
        (the CSV import, which reports each bad row, writes through store/imports.py).
        """
        digest_list = self.get_list(list_slug)
        subs = self.key("list", list_slug, "subs")
        masks_by_choice: dict[tuple[str, ...], int] = {}
        written = 0
        batch: list[Subscriber] = []

        def flush() -> None:
            emails = [normalize_email(s.email) for s in batch]
            olds = self.r.hmget(subs, emails)
            blocked = self.suppressed(emails)
            new_count = sum(1 for o in olds if o is None)
            last = self.r.incrby(self.key("list", list_slug, "seq"), new_count) if new_count else 0
            next_seq = last - new_count + 1
            with self.r.pipeline(transaction=False) as pipe:
                for sub, email, old, is_blocked in zip(batch, emails, olds, blocked, strict=True):
                    choice = tuple(sub.topics or ())
                    if choice not in masks_by_choice:
                        chosen = self._check_topics(digest_list, choice)
                        masks_by_choice[choice] = self._bits(list_slug, chosen) if chosen else 0
                    mask = masks_by_choice[choice]
                    status = sub.status
                    if old is not None:
                        rec = Record.unpack(old)
                        seq, created = rec.seq, rec.created
                        pipe.zrem(self.key("list", list_slug, "sel", rec.mask), email)
                        if rec.status != "active" and not reactivate:
                            status = rec.status  # an unsubscribe is not undone by a re-import
                    else:
                        seq, created, next_seq = next_seq, int(sub.created_at.timestamp()), next_seq + 1
                    if is_blocked:
                        status = "suppressed"
                    pipe.hset(subs, email, Record(seq, mask, status, created, sub.name).pack())
                    if profile := sub.profile():
                        pipe.hset(self.key("list", list_slug, "profile"), email, json.dumps(profile))
                    if status == "active":
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
        return self._subscriber(list_slug, email, raw, self.r.hget(self.key("list", list_slug, "profile"), email))

    def _subscriber(
        self, list_slug: str, email: str, raw: str, profile: str | None,
        topics_by_mask: dict[int, list[str]] | None = None,
    ) -> Subscriber:
        rec = Record.unpack(raw)
        if topics_by_mask is not None and rec.mask in topics_by_mask:
            chosen: list[str] | None = topics_by_mask[rec.mask]
        else:
            topics = self.topics_of_mask(list_slug, rec.mask)
            chosen = sorted(topics) if topics is not None else None
        return Subscriber(
            email=email, name=rec.name, status=rec.status, topics=chosen,
            created_at=datetime.fromtimestamp(rec.created, timezone.utc),
            **(json.loads(profile) if profile else {}),
        )

    def subscribers(self, list_slug: str) -> Iterator[Subscriber]:
        """Every subscriber of a list, any status, streamed with HSCAN: a page of 1,000 and their
        profiles in two round trips (an export of a million takes seconds, not an hour)."""
        self.get_list(list_slug)
        profiles = self.key("list", list_slug, "profile")
        bits = self.topic_bits(list_slug)
        topics_by_mask: dict[int, list[str]] = {}
        cursor = None
        while cursor != 0:
            cursor, page = self.r.hscan(self.key("list", list_slug, "subs"), cursor or 0, count=1000)
            if not page:
                continue
            emails = list(page)
            for email, raw, profile in zip(emails, page.values(), self.r.hmget(profiles, emails), strict=True):
                mask = Record.unpack(raw).mask
                if mask and mask not in topics_by_mask:
                    topics_by_mask[mask] = sorted(slug for slug, bit in bits.items() if mask >> bit & 1)
                yield self._subscriber(list_slug, email, raw, profile, topics_by_mask)

    def update_profile(self, list_slug: str, email: str, **fields: object) -> None:
        """Set (or, with None or "", clear) profile fields: locale, consent evidence, paused_until."""
        unknown = set(fields) - set(PROFILE_FIELDS)
        if unknown:
            raise InvalidInput(f"not a subscriber profile field: {', '.join(sorted(unknown))}")
        key = self.key("list", list_slug, "profile")
        current = json.loads(self.r.hget(key, email) or "{}")
        for name, value in fields.items():
            if value in (None, ""):
                current.pop(name, None)
            else:
                current[name] = value.isoformat() if isinstance(value, datetime) else value
        self.r.hset(key, email, json.dumps(current))

    def set_status(self, list_slug: str, email: str, status: str) -> str:
        """Move a subscriber to `status` (joining or leaving the send groups); returns the old status.

        An address on the suppression list never becomes active.
        """
        email = normalize_email(email)
        subs = self.key("list", list_slug, "subs")
        raw = self.r.hget(subs, email)
        if raw is None:
            raise NotFound("subscriber", email)
        rec = Record.unpack(raw)
        if status == "active" and self.suppressed([email])[0]:
            status = "suppressed"
        with self.r.pipeline() as pipe:
            pipe.hset(subs, email, rec._replace(status=status).pack())
            if status == "active":
                pipe.zadd(self.key("list", list_slug, "sel", rec.mask), {email: rec.seq})
                pipe.sadd(self.key("list", list_slug, "masks"), rec.mask)
            else:
                pipe.zrem(self.key("list", list_slug, "sel", rec.mask), email)
            pipe.execute()
        return rec.status

    def subscriber_count(self, list_slug: str) -> int:
        return sum(self.r.zcard(self.key("list", list_slug, "sel", m)) for m in self.masks(list_slug))

    def masks(self, list_slug: str) -> list[int]:
        return sorted(int(m) for m in self.r.smembers(self.key("list", list_slug, "masks")))

    def unsubscribe(self, list_slug: str, email: str, reason: str = "unsubscribed") -> bool:
        """Mark a subscriber unsubscribed (or `reason`: bounced, complained); True if they
        were getting mail (active or paused). Idempotent."""
        return self.set_status(list_slug, email, reason) in ("active", "paused")

    def remove_subscriber(self, list_slug: str, email: str) -> None:
        """Take an address off a list altogether (its record too). Suppression, if any, stays."""
        email = normalize_email(email)
        subs = self.key("list", list_slug, "subs")
        raw = self.r.hget(subs, email)
        if raw is None:
            raise NotFound("subscriber", email)
        with self.r.pipeline() as pipe:
            pipe.hdel(subs, email)
            pipe.hdel(self.key("list", list_slug, "profile"), email)
            pipe.zrem(self.key("list", list_slug, "sel", Record.unpack(raw).mask), email)
            pipe.execute()


def mask_topics(bits: dict[str, int], mask: int) -> set[str] | None:
    """The topic slugs a mask stands for, given the list's topic_bits; None for 0, "everything"."""
    if mask == 0:
        return None
    return {slug for slug, bit in bits.items() if mask >> bit & 1}


class Record(NamedTuple):
    """A subscriber as the send path reads it: one split, no JSON (a million per send)."""

    seq: int  # the subscriber's number, kept for life
    mask: int  # topic choice; 0 is "everything"
    status: str  # models.STATUSES; only "active" is mailed
    created: int  # Unix time
    name: str

    def pack(self) -> str:
        return f"{self.seq}|{self.mask}|{self.status}|{self.created}|{self.name}"

    @classmethod
    def unpack(cls, raw: str) -> Record:
        seq, mask, status, created, name = raw.split("|", 4)  # the name may hold "|"
        return cls(int(seq), int(mask), status, int(created), name)
