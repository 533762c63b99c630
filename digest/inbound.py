"""Mail to the List-Unsubscribe mailto address, as SendGrid's Inbound Parse posts it.

Every digest carries <mailto:unsubscribe+{list}@{domain}?subject=unsubscribe%20{token}>
(links.list_unsubscribe). Whom a message to it unsubscribes:

1. The reader a valid signed token in the subject names, from that token's list:
   the token is the credential, as in the https link.
2. Otherwise the sender, from each list named in an address (unsubscribe+LIST@)
   or in the subject ("unsubscribe LIST"), but only when SendGrid says the
   sender's domain is authenticated: DKIM passed for the From domain, or SPF
   passed for an envelope sender in the From domain. Anyone can write any From:;
   without this, anyone could unsubscribe anyone by mail.

Anything else is ignored. The caller answers SendGrid 200 whatever happens
(it retries for days otherwise) and logs the one-line outcome returned here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.utils import getaddresses

from digest.errors import InvalidInput, NotFound
from digest.events import STRENGTH
from digest.inbound_mail import authenticated_sender, mail_envelope, mail_subject
from digest.links import TokenSigner
from digest.models import SLUG
from digest.store import Store

# A token as links.TokenSigner makes it, standing alone in the subject.
_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{2,2048}\.[A-Za-z0-9_-]{22}(?![A-Za-z0-9_.-])")
_LIST_ADDRESS = re.compile(r"unsubscribe\+([a-z0-9][a-z0-9-]{0,62})", re.IGNORECASE)
_LIST_IN_SUBJECT = re.compile(r"\bunsubscribe\s+([a-z0-9][a-z0-9-]{0,62})(?=\s|$)")
MAX_LISTS = 10  # lists one message may name


def handle_unsubscribe_mail(store: Store, signer: TokenSigner, form: Mapping[str, str]) -> str:
    """Unsubscribe whom a message to the mailto address names; returns what was done, in a line."""
    subject = mail_subject(form.get("subject", ""))
    for token in _TOKEN.findall(subject.replace("%20", " "))[:5]:
        try:
            list_slug, email = signer.read(token)
        except InvalidInput:
            continue
        return _unsubscribe(store, list_slug, email, "by the token in the subject")
    lists = _named_lists(form, subject)
    if not lists:
        return "ignored: no token and no list named"
    sender, why_not = authenticated_sender(form)
    if sender is None:
        return f"ignored: {why_not}"
    return "; ".join(_unsubscribe(store, s, sender, "as the authenticated sender") for s in lists)


def _unsubscribe(store: Store, list_slug: str, email: str, how: str) -> str:
    try:
        store.get_list(list_slug)
        current = store.get_subscriber(list_slug, email).status
        if current not in STRENGTH:  # already unsubscribed, bounced, ...: keep what it says
            store.unsubscribe(list_slug, email)
    except NotFound as exc:
        return f"ignored: {exc}"
    return f"unsubscribed {email} from {list_slug} {how}"


def _named_lists(form: Mapping[str, str], subject: str) -> list[str]:
    """Lists named by unsubscribe+LIST@ recipients (envelope first, then To and Cc), else the subject."""
    to = mail_envelope(form).get("to")
    addresses = [a for a in to if isinstance(a, str)] if isinstance(to, list) else []
    addresses += [addr for _, addr in getaddresses([form.get("to", "")[:5000], form.get("cc", "")[:5000]])]
    found = []
    for address in addresses:
        local = address.rpartition("@")[0]
        if m := _LIST_ADDRESS.fullmatch(local):
            found.append(m[1].lower())
    if not found:
        found = _LIST_IN_SUBJECT.findall(subject.lower())
    return [s for s in dict.fromkeys(found) if SLUG.fullmatch(s)][:MAX_LISTS]
