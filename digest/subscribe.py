"""Double opt-in: asking to join a list, confirming by email, and readers' pauses.

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

The confirmation email carries no text of the asker's: not the name (it would go
into a To: header and a stranger's mailbox), only the list's own words and the
link, so the form cannot be used to send spam to third parties.

Anyone may ask for any address, so what a request asks for is a stranger's
word until the mailbox's owner says otherwise. Each link confirms the choices of
the request it was mailed for (store/optin.py), never those of a later request,
whoever made it. And the link's page (`review`) shows the reader what confirming
stores (the name that will greet them, the topics, the language) in a form they
may change or clear: the confirming POST carries the reader's own choices, and
only they are stored.

Confirming (a POST from the link's page: scanners only GET) activates the
request the link names: a link confirms once, expires after
CONFIRM_TOKEN_DAYS, and never activates a suppressed, bounced or complained
address. The web form always uses double opt-in; a list's `opt_in = "single"`
is for imports of people who consented elsewhere (recorded as such by the import).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import ValidationError

from digest.addresses import mailbox
from digest.clients import client_network
from digest.config import Settings
from digest.deliver.base import Envelope, Recipient, Sender
from digest.errors import DigestError, InvalidField, InvalidInput, NotFound
from digest.links import make_confirm_token, read_confirm_token
from digest.models import LOCALES, DigestList, Subscriber
from digest.pauses import GETTING_MAIL
from digest.render import make_environment, translations
from digest.store import Store, normalize_email

log = logging.getLogger(__name__)

NEVER_MAILED = ("bounced", "complained", "suppressed")
SOURCES = ("form", "api", "import", "cli")
_BATCH = 1000  # recipients per envelope, SendGrid's cap


class RateLimited(DigestError):
    """This client asked too often; try again in `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many requests from this address; try again in {int(retry_after) + 1} s")
        self.retry_after = retry_after


@dataclass
class Confirmed:
    digest_list: DigestList
    subscriber: Subscriber
    already: bool  # the link had been used: they were subscribed before this click


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# -- asking --------------------------------------------------------------------

def spend_client_quota(store: Store, settings: Settings, ip: str) -> None:
    """Count one request from `ip` (none for ""); RateLimited past SUBSCRIBE_PER_IP_PER_HOUR.

    An IPv6 client is counted by its /64: one host usually has the whole network.
    """
    if not ip:
        return
    wait = store.hit_limit("subscribe-ip", client_network(ip),
                                                 settings.subscribe_per_ip_per_hour, 3600)
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
    choices = {"name": _valid_name(name), "topics": _valid_topics(store, digest_list, topics),
               "locale": _valid_locale(locale), "source": source if source in SOURCES else "form",
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
    if not _address_quota(store, settings, address):
        log.info("list %s: confirmation to an address held back (daily limit)", list_slug)
        return
    if current is None:  # the record holds the first request; a later one goes with its own link
        current = Subscriber(email=address, name=choices["name"], topics=choices["topics"], status="pending",
                             locale=choices["locale"], source=choices["source"], ip=choices["ip"],
                             created_at=asked.at)
        store.add_subscriber(list_slug, current)
        _send_confirmations(store, settings, sender, asked.digest_list, [(current, None)], asked.at)
    else:  # pending or unsubscribed: the record stays as it is, whoever asks (module docstring)
        _send_confirmations(store, settings, sender, asked.digest_list, [(current, choices)], asked.at)


def send_confirmations(
    store: Store, settings: Settings, sender: Sender, list_slug: str, emails: Iterable[str],
    now: datetime | None = None,
) -> int:
    """Mail a confirmation to each pending address of the list (added by an editor); returns
    how many went out. Skips addresses that are not on the list, not pending, suppressed, or
    past their daily limit. Streams: 1,000 addresses at a time."""
    now = now or utcnow()
    digest_list = store.get_list(list_slug)
    seen: set[str] = set()
    sent = 0
    chunk: list[str] = []
    for raw in emails:
        try:
            address = normalize_email(raw)
        except InvalidInput:
            continue
        if address not in seen:
            seen.add(address)
            chunk.append(address)
        if len(chunk) == _BATCH:
            sent += _confirm_pending(store, settings, sender, digest_list, chunk, now)
            chunk = []
    if chunk:
        sent += _confirm_pending(store, settings, sender, digest_list, chunk, now)
    return sent


def _confirm_pending(
    store: Store, settings: Settings, sender: Sender, digest_list: DigestList, emails: list[str], now: datetime,
) -> int:
    people: list[tuple[Subscriber, dict[str, Any] | None]] = []
    for address, blocked in zip(emails, store.suppressed(emails), strict=True):
        if blocked:
            continue
        try:
            sub = store.get_subscriber(digest_list.slug, address)
        except NotFound:
            continue
        if sub.status == "pending" and _address_quota(store, settings, address):
            people.append((sub, None))
    return _send_confirmations(store, settings, sender, digest_list, people, now)


def _address_quota(store: Store, settings: Settings, address: str) -> bool:
    return not store.hit_limit("confirm-address", mailbox(address), settings.subscribe_per_address_per_day, 86400)


def _send_confirmations(
    store: Store, settings: Settings, sender: Sender, digest_list: DigestList,
    people: list[tuple[Subscriber, dict[str, Any] | None]], now: datetime,
) -> int:
    """Open a request for each person and mail its link, one envelope per language and 1,000 people."""
    ttl = timedelta(days=settings.confirm_token_days)
    expires = now + ttl
    by_locale: dict[str, list[Recipient]] = {}
    marker = f"-c{secrets.token_hex(12)}-"  # the per-reader token's placeholder (render/issue.py explains)
    for sub, choices in people:
        if store.suppressed([sub.email])[0]:
            continue
        nonce = store.open_request(digest_list.slug, sub.email, choices, int(ttl.total_seconds()) + 60)
        token = make_confirm_token(settings, digest_list.slug, sub.email, expires, nonce)
        locale = (choices or {}).get("locale") or sub.locale or digest_list.locale
        by_locale.setdefault(locale, []).append(Recipient(email=sub.email, substitutions={marker: token}))
    sent = 0
    for locale, recipients in by_locale.items():
        subject, html, text = _confirmation_email(settings, digest_list, locale, marker, expires)
        for start in range(0, len(recipients), _BATCH):
            batch = recipients[start:start + _BATCH]
            sender.send(Envelope(
                subject=subject, html=html, text=text,
                from_email=digest_list.from_email, from_name=digest_list.from_name or digest_list.name,
                reply_to=digest_list.reply_to, recipients=batch,
                custom_args={"list": digest_list.slug, "kind": "confirm"},
                categories=["confirm", digest_list.slug],
            ))
            sent += len(batch)
    return sent


def _confirmation_email(
    settings: Settings, digest_list: DigestList, locale: str, marker: str, expires: datetime,
) -> tuple[str, str, str]:
    env = make_environment(settings, locale, digest_list.timezone)
    context = {"digest_list": digest_list, "lang": locale, "confirm_url": f"{settings.base_url}/c/{marker}",
               "expires": env.filters["short_date"](expires, "long")}
    subject = translations(locale).gettext("Confirm your subscription to %(list)s") % {"list": digest_list.name}
    return (subject, env.get_template("confirm.html.j2").render(context),
            env.get_template("confirm.txt.j2").render(context))


# -- confirming ----------------------------------------------------------------

class LinkDead(InvalidInput):
    """The request behind a link is over for good (the address left the list, or may never be mailed)."""

    def __init__(self, message: str, list_slug: str, email: str) -> None:
        super().__init__(message)
        self.list_slug, self.email = list_slug, email


@dataclass(frozen=True)
class Choices:
    """What confirming stores besides the consent: the greeting's name, the topics, the language."""

    name: str
    topics: list[str] | None  # None: every topic, later ones too
    locale: str | None  # None: the list's


@dataclass
class Review:
    """What a confirmation link would do, as its page shows it before the reader confirms."""

    digest_list: DigestList
    subscriber: Subscriber
    already: bool  # they get mail already: confirming changes nothing
    choices: Choices  # what confirming stores unless the reader changes it
    evidence: dict[str, Any] | None  # the link's request (source, ip), None: the record's


def review(store: Store, settings: Settings, token: str, now: datetime | None = None) -> Review:
    """What confirming `token` would store, changing nothing (the link's page, GET /c/<token>).

    InvalidInput as `confirm` raises it: forged, expired (links.ExpiredLink), used, or
    LinkDead (the address was removed, or may never be mailed). NotFound: the list is gone.
    """
    link = read_confirm_token(settings, token, now)
    digest_list = store.get_list(link.list_slug)
    try:
        sub = store.get_subscriber(link.list_slug, link.email)
    except NotFound:
        raise LinkDead("this confirmation link is no longer valid: the address was removed from the list; "
                       "subscribe again", link.list_slug, link.email) from None
    if store.suppressed([sub.email])[0] or sub.status in NEVER_MAILED:
        raise LinkDead("this address cannot be subscribed to this list", link.list_slug, link.email)
    if sub.status in GETTING_MAIL:
        return Review(digest_list, sub, True, Choices(sub.name, sub.topics, sub.locale), None)
    is_open, asked = store.link_choices(link.list_slug, link.email, link.nonce)
    if not is_open:
        raise InvalidInput("this confirmation link was already used: to subscribe again, use the form")
    if asked:  # the choices of the request this link was mailed for
        choices = Choices(asked.get("name") or "", asked.get("topics"), asked.get("locale") or sub.locale)
    else:  # the record's: a new address's first request, or an editor's
        choices = Choices(sub.name, sub.topics, sub.locale)
    if choices.topics is not None:  # topics the list dropped since the request stay dropped
        allowed = set(store.list_topics(digest_list))
        choices = replace(choices, topics=[t for t in choices.topics if t in allowed] or None)
    return Review(digest_list, sub, False, choices, asked or None)


def confirm(
    store: Store, settings: Settings, token: str, now: datetime | None = None, *, name: object = None,
    topics: Iterable[str] | None = None, locale: object = None,
) -> Confirmed:
    """Activate the request a confirmation link names, with the reader's own choices.

    `name`, `topics` and `locale` are what the reader chose on the link's page (None:
    what `review` shows, the link's request); InvalidField for a bad one, nothing stored.
    Otherwise InvalidInput and NotFound as `review` says.
    """
    now = now or utcnow()
    try:
        seen = review(store, settings, token, now)
    except LinkDead as exc:
        store.close_request(exc.list_slug, exc.email)
        raise
    digest_list, sub = seen.digest_list, seen.subscriber
    if seen.already:
        store.close_request(digest_list.slug, sub.email)
        return Confirmed(digest_list, sub, already=True)
    chosen = seen.choices
    if name is not None:
        chosen = replace(chosen, name=_valid_name(name))
    if topics is not None:
        chosen = replace(chosen, topics=_valid_topics(store, digest_list, list(topics)))
    if locale is not None:
        chosen = replace(chosen, locale=_valid_locale(locale) or chosen.locale)
    update: dict[str, Any] = {"status": "active", "consent": "double-opt-in", "confirmed_at": now,
                              "paused_until": None, "name": chosen.name, "topics": chosen.topics,
                              "locale": chosen.locale if chosen.locale != (sub.locale or digest_list.locale)
                              else sub.locale}
    if seen.evidence is not None:  # the consent evidence of the request this link was mailed for
        update |= {"source": seen.evidence.get("source", ""), "ip": seen.evidence.get("ip", "")}
    store.add_subscribers(digest_list.slug, [sub.model_copy(update=update)], reactivate=True)
    store.close_request(digest_list.slug, sub.email)
    return Confirmed(digest_list, store.get_subscriber(digest_list.slug, sub.email), already=False)


# -- the reader's own choices ---------------------------------------------------

def save_preferences(
    store: Store, list_slug: str, email: str, *, name: str | None = None, topics: Iterable[str] | None = None,
    locale: str | None = None,
) -> Subscriber:
    """Change a subscriber's name, topics (all of them: every topic, also later ones) and
    language; None keeps a value. Only for someone who gets mail (active or paused)."""
    digest_list = store.get_list(list_slug)
    sub = store.get_subscriber(list_slug, email)
    if sub.status not in GETTING_MAIL:
        raise InvalidInput(f"{sub.email} is {sub.status}: there is nothing to change")
    update: dict[str, Any] = {}
    if name is not None:
        update["name"] = _valid_name(name)
    if topics is not None:
        update["topics"] = _valid_topics(store, digest_list, list(topics))
    chosen_locale = _valid_locale(locale) if locale is not None else None
    if update:
        store.add_subscriber(list_slug, sub.model_copy(update=update))
    if chosen_locale and chosen_locale != (sub.locale or digest_list.locale):
        store.update_profile(list_slug, sub.email, locale=chosen_locale)
    return store.get_subscriber(list_slug, sub.email)


# -- validation ---------------------------------------------------------------

def _valid_email(email: object) -> str:
    if not isinstance(email, str) or not email.strip():
        raise InvalidField("email", "an email address is required")
    if len(email) > 320:
        raise InvalidField("email", "an email address is at most 320 characters")
    try:
        return normalize_email(email)
    except InvalidInput as exc:
        raise InvalidField("email", str(exc)) from None


def _valid_name(name: object) -> str:
    if name is None:
        return ""
    if not isinstance(name, str):
        raise InvalidField("name", "must be text")
    try:
        return Subscriber(email="x@example.com", name=name).name
    except ValidationError as exc:
        raise InvalidField("name", exc.errors()[0]["msg"].removeprefix("Value error, ")) from None


def _valid_topics(store: Store, digest_list: DigestList, topics: Iterable[str] | None) -> list[str] | None:
    """The chosen topic slugs, or None for "every topic" (none given, or all of them)."""
    if topics is None:
        return None
    if not isinstance(topics, list | tuple) or not all(isinstance(t, str) for t in topics):
        raise InvalidField("topics", "must be a list of topic ids")
    offered = store.list_topics(digest_list)
    chosen = list(dict.fromkeys(topics))
    unknown = [t for t in chosen if t not in offered]
    if unknown:
        raise InvalidField("topics", f"{', '.join(map(repr, unknown[:5]))} is not a topic of this list "
                                     f"(topics: {', '.join(offered)})")
    if not chosen:
        raise InvalidField("topics", "choose at least one topic")
    return None if set(chosen) == set(offered) else chosen


def _valid_locale(locale: object) -> str | None:
    if locale in (None, ""):
        return None
    if locale not in LOCALES:
        raise InvalidField("locale", f"{locale!r} is not one of {', '.join(LOCALES)}")
    return str(locale)

