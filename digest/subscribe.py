"""Asking to join a list: the sign-up request, its limits, and what it does by the address's state.

What a request to subscribe does, by the address's state on the list:

    state                     what happens                                 mail
    not on the list           a pending record with the consent evidence   a confirmation
    pending                   left as it is; the request is kept aside     a confirmation
    unsubscribed              left as it is; the request is kept aside     a confirmation
    active, paused            nothing                                      none
    bounced, complained, suppressed, or on the suppression list
                              nothing                                      none, ever

Whoever asks gets the same answer in every row ("check your inbox"), so the form
cannot tell anyone who reads a list. One mailbox gets at most
SUBSCRIBE_PER_ADDRESS_PER_DAY confirmations (over it: the same answer, no mail),
whatever "+tag" (or, at Gmail, dots) its address is spelt with;
one client may ask SUBSCRIBE_PER_IP_PER_HOUR times (over it: RateLimited, which
tells the client about itself, nothing about any address).

The confirmation, its link and what confirming stores are confirm.py's; the
checks of a name, topics and language are preferences.py's. The web form always
uses double opt-in; a list's `opt_in = "single"` is for imports of people who
consented elsewhere (recorded as such by the import).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from digest.clients import client_network
from digest.config import Settings
from digest.confirm import mail_links, spend_address_quota
from digest.deliver.base import Sender
from digest.errors import DigestError, InvalidField, InvalidInput, NotFound
from digest.models import DigestList, Subscriber, utcnow
from digest.preferences import valid_locale, valid_name, valid_topics
from digest.store import Store, normalize_email

log = logging.getLogger(__name__)

SOURCES = ("form", "api", "import", "cli")


class RateLimited(DigestError):
    """This client asked too often; try again in `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many requests from this address; try again in {int(retry_after) + 1} s")
        self.retry_after = retry_after


def spend_client_quota(store: Store, settings: Settings, ip: str) -> None:
    """Count one request from `ip` (none for ""); RateLimited past SUBSCRIBE_PER_IP_PER_HOUR.

    An IPv6 client is counted by its /64: one host usually has the whole network.
    """
    if not ip:
        return
    wait = store.hit_limit("subscribe-ip", client_network(ip), settings.subscribe_per_ip_per_hour, 3600)
    if wait:
        raise RateLimited(wait)


def request_subscription(
    store: Store, settings: Settings, sender: Sender, list_slug: str, email: str, name: str = "",
    topics: Iterable[str] | None = None, locale: str | None = None, source: str = "form", ip: str = "",
    now: datetime | None = None,
) -> None:
    """Ask for `email` to join the list (module docstring: what happens, by state).

    Returns nothing on purpose: the caller's answer must not depend on the address.
    Raises RateLimited (this client), InvalidField (a bad value), NotFound (no such list).
    """
    carry_out(store, settings, sender, check_request(store, settings, list_slug, email, name, topics, locale,
                                                     source, ip, now))


@dataclass(frozen=True)
class SubscriptionRequest:
    """A request that passed every check that does not look at the address's state."""

    digest_list: DigestList
    email: str
    choices: dict[str, Any]  # name, topics, locale, source, ip, at
    at: datetime


def check_request(
    store: Store, settings: Settings, list_slug: str, email: object, name: object = "",
    topics: Iterable[str] | None = None, locale: object = None, source: str = "form", ip: str = "",
    now: datetime | None = None,
) -> SubscriptionRequest:
    """The first half of request_subscription: the client's quota and the values, the same work
    whoever the address is. The web answers after it and leaves `carry_out` to the background,
    so not even the time taken tells whether a confirmation was sent."""
    spend_client_quota(store, settings, ip)
    now = now or utcnow()
    digest_list = store.get_list(list_slug)
    address = _valid_email(email)
    choices = {"name": valid_name(name), "topics": valid_topics(store, digest_list, topics),
               "locale": valid_locale(locale), "source": source if source in SOURCES else "form",
               "ip": ip, "at": now.isoformat()}
    return SubscriptionRequest(digest_list, address, choices, now)


def carry_out(store: Store, settings: Settings, sender: Sender, asked: SubscriptionRequest) -> None:
    """The second half: what the address's state calls for (the table in the module docstring)."""
    list_slug, address, choices = asked.digest_list.slug, asked.email, asked.choices
    if store.suppressed([address])[0]:
        return
    try:
        current = store.get_subscriber(list_slug, address)
    except NotFound:
        current = None
    if current is not None and current.status not in ("pending", "unsubscribed"):
        return  # active or paused: nothing to confirm; bounced, complained, suppressed: never mailed
    if not spend_address_quota(store, settings, address):
        log.info("list %s: confirmation to an address held back (daily limit)", list_slug)
        return
    if current is None:  # the record holds the first request; a later one goes with its own link
        current = Subscriber(email=address, name=choices["name"], topics=choices["topics"], status="pending",
                             locale=choices["locale"], source=choices["source"], ip=choices["ip"],
                             created_at=asked.at)
        store.add_subscriber(list_slug, current)
        mail_links(store, settings, sender, asked.digest_list, [(current, None)], asked.at)
    else:  # pending or unsubscribed: the record stays as it is, whoever asks (module docstring)
        mail_links(store, settings, sender, asked.digest_list, [(current, choices)], asked.at)


def _valid_email(email: object) -> str:
    if not isinstance(email, str) or not email.strip():
        raise InvalidField("email", "an email address is required")
    if len(email) > 320:
        raise InvalidField("email", "an email address is at most 320 characters")
    try:
        return normalize_email(email)
    except InvalidInput as exc:
        raise InvalidField("email", str(exc)) from None
