"""Consent confirmation: mailing the link, and what the link's page shows and stores.

Each confirmation opens a request (store/optin.py) and mails a signed link that
carries the request's nonce. One mailbox gets at most SUBSCRIBE_PER_ADDRESS_PER_DAY
confirmations, whatever "+tag" (or, at Gmail, dots) its address is spelt with
(addresses.mailbox); over it, none is mailed and nothing tells the asker.

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
address.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from digest.addresses import mailbox
from digest.config import Settings
from digest.deliver.base import Envelope, Recipient, Sender
from digest.errors import InvalidInput, NotFound
from digest.links import make_confirm_token, read_confirm_token
from digest.models import DigestList, Subscriber, utcnow
from digest.pauses import GETTING_MAIL
from digest.preferences import valid_locale, valid_name, valid_topics
from digest.render import make_environment, translations
from digest.store import Store, normalize_email

NEVER_MAILED = ("bounced", "complained", "suppressed")
_BATCH = 1000  # recipients per envelope, SendGrid's cap


# -- mailing the link -----------------------------------------------------------

def spend_address_quota(store: Store, settings: Settings, address: str) -> bool:
    """Count one confirmation to `address`'s mailbox; False past SUBSCRIBE_PER_ADDRESS_PER_DAY."""
    return not store.hit_limit("confirm-address", mailbox(address), settings.subscribe_per_address_per_day, 86400)


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
        if sub.status == "pending" and spend_address_quota(store, settings, address):
            people.append((sub, None))
    return mail_links(store, settings, sender, digest_list, people, now)


def mail_links(
    store: Store, settings: Settings, sender: Sender, digest_list: DigestList,
    people: list[tuple[Subscriber, dict[str, Any] | None]], now: datetime,
) -> int:
    """Open a request for each person and mail its link, one envelope per language and 1,000 people.

    A person comes with the choices their link confirms (None: the subscriber record's)."""
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


@dataclass
class Confirmed:
    digest_list: DigestList
    subscriber: Subscriber
    already: bool  # the link had been used: they were subscribed before this click


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
        chosen = replace(chosen, name=valid_name(name))
    if topics is not None:
        chosen = replace(chosen, topics=valid_topics(store, digest_list, list(topics)))
    if locale is not None:
        chosen = replace(chosen, locale=valid_locale(locale) or chosen.locale)
    update: dict[str, Any] = {"status": "active", "consent": "double-opt-in", "confirmed_at": now,
                              "paused_until": None, "name": chosen.name, "topics": chosen.topics,
                              "locale": chosen.locale if chosen.locale != (sub.locale or digest_list.locale)
                              else sub.locale}
    if seen.evidence is not None:  # the consent evidence of the request this link was mailed for
        update |= {"source": seen.evidence.get("source", ""), "ip": seen.evidence.get("ip", "")}
    store.add_subscribers(digest_list.slug, [sub.model_copy(update=update)], reactivate=True)
    store.close_request(digest_list.slug, sub.email)
    return Confirmed(digest_list, store.get_subscriber(digest_list.slug, sub.email), already=False)
