"""A person, as an editor meets them: added to a list, their data exported, forgotten.

Added (by `digest subscribers add` or an import): on a list with single opt-in the
person is active at once, with "single-opt-in" as the consent, the source and
the time recorded; on a double opt-in list they are pending until they confirm
the email digest/confirm.py sends. An address that is suppressed, plainly or
forgotten, is kept "suppressed" and never mailed.

Export: everything digest holds about one address, on every list, as JSON.

Forget: the address is erased everywhere (store/people.py lists where) and only
the SHA-256 of it is kept on the suppression list (store/suppression.py says why
unkeyed), so no send, add, import, sign-up or confirmation reaches them again.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from digest.addresses import address_hash, normalize_email
from digest.errors import InvalidInput, NotFound
from digest.models import DigestList, Subscriber
from digest.store import Store
from digest.store.people import Erased, PersonStore
from digest.store.subscribers import Record

OPT_INS = ("double", "single")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def joining_terms(
    digest_list: DigestList, source: str, now: datetime, opt_in: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """The status and consent evidence of someone an editor adds to the list.

    `opt_in` may ask for double opt-in on a single opt-in list (people whose consent
    is not certain); never the reverse: skipping confirmation is the list's setting.
    """
    mode = opt_in or digest_list.opt_in
    if mode not in OPT_INS:
        raise InvalidInput(f"opt-in {mode!r} is not one of {', '.join(OPT_INS)}")
    if mode == "single" and digest_list.opt_in != "single":
        raise InvalidInput(
            f"list {digest_list.slug!r} asks new subscribers to confirm (double opt-in); to add people who "
            f"consented elsewhere without asking them, set the list to single opt-in first "
            f"(digest lists add {digest_list.slug} ... --opt-in single)")
    if mode == "single":
        return "active", {"source": source, "consent": "single-opt-in",
                          "confirmed_at": now.isoformat(timespec="seconds")}
    return "pending", {"source": source}


def add_person(
    store: Store, list_slug: str, email: str, *, name: str | None = None, topics: list[str] | None = None,
    source: str = "cli", opt_in: str | None = None, now: datetime | None = None,
) -> tuple[Subscriber, bool]:
    """Add someone to a list (topics None: every topic), or change the name or topics of
    someone on it (None: keep); returns them as stored and whether they are new.

    Someone already on the list keeps their status and consent evidence: whoever
    left stays out, a pending one stays pending.
    """
    digest_list = store.get_list(list_slug)
    address = normalize_email(email)
    try:
        current: Subscriber | None = store.get_subscriber(list_slug, address)
    except NotFound:
        current = None
    if current is not None:
        store.add_subscriber(list_slug, Subscriber(
            email=address, name=current.name if name is None else name,
            topics=current.topics if topics is None else topics, status=current.status))
    else:
        now = now or utcnow()
        status, evidence = joining_terms(digest_list, source, now, opt_in)
        store.add_subscriber(list_slug, Subscriber(email=address, name=name or "", topics=topics, status=status,
                                                   created_at=now, **evidence))
    return store.get_subscriber(list_slug, address), current is None


def export_person(store: Store, email: str, now: datetime | None = None) -> dict[str, Any]:
    """Everything digest holds about one address (for the person who asked), JSON-ready."""
    address = normalize_email(email)
    people = PersonStore(store.r, store.prefix)
    lists = []
    for m in people.memberships(address):
        slug = m.digest_list.slug
        sub = store.get_subscriber(slug, address)
        lists.append({
            "list": slug, "list_name": m.digest_list.name, "status": sub.status,
            "topics": sub.topics if sub.topics is not None else "every topic of the list",
            "name": sub.name, "locale": sub.locale or m.digest_list.locale,
            "joined_at": sub.created_at.isoformat(), "subscriber_number": Record.unpack(m.record).seq,
            "consent": {"source": sub.source, "ip": sub.ip, "consent": sub.consent,
                        "confirmed_at": sub.confirmed_at.isoformat() if sub.confirmed_at else None},
            "paused_until": sub.paused_until.isoformat() if sub.paused_until else None,
            "stored_record": m.record, "stored_profile": m.profile,
        })
    plain, hashed = store.suppression_entries(address)
    prefix = f"{store.prefix}:"
    return {
        "email": address,
        "exported_at": (now or utcnow()).isoformat(timespec="seconds"),
        "lists": lists,
        "suppression": plain,
        "forgotten": {**hashed, "sha256": address_hash(address)} if hashed else None,
        "other_records": {k.removeprefix(prefix): people.key_value(k) for k in people.keys_naming(address)},
    }


def forget_person(store: Store, email: str) -> Erased:
    """Erase the address everywhere and keep only its hash on the suppression list."""
    address = normalize_email(email)
    store.suppress_hashed(address)  # first: from here on, nothing can add or mail them
    return PersonStore(store.r, store.prefix).erase(address)
