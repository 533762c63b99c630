"""Proofs: the next issue sent to a few addresses an editor types, before it goes out.

A proof goes through the very sender an issue uses (SendGrid, or the outbox),
rendered by the very code that plans the issue (digest.issue.next_issue), so what
the editor reads in their mailbox is what readers will get. What differs, on
purpose:

- the subject starts with "[Test]" and the custom args carry `test: 1`, so a proof
  is told apart in the mailbox, in SendGrid's activity and in webhook events;
- the links carry the preview token (links.preview_token), which works for no
  reader: a proof forwarded onwards unsubscribes nobody;
- nothing is written to the send ledger: a proof is never counted as the issue's
  send, never marks an article as sent, and never reaches a subscriber.

Hostile or careless input is bounded: at most MAX_ADDRESSES valid addresses a
proof, at most PROOFS_PER_HOUR proofs a list, and suppressed addresses (people
who asked to be forgotten, complained or bounced hard) are refused by name.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from digest.addresses import normalize_email
from digest.config import Settings
from digest.deliver.base import Envelope, Recipient, Sender
from digest.errors import InvalidInput
from digest.issue import next_issue
from digest.links import preview_token
from digest.store import Store

MAX_ADDRESSES = 10
PROOFS_PER_HOUR = 20
SUBJECT_PREFIX = "[Test] "


@dataclass(frozen=True)
class Proof:
    proof_id: str
    sent_to: list[str]
    subject: str


def proof_addresses(raw: str | list[str]) -> list[str]:
    """The normalised addresses of a comma-, semicolon- or space-separated string (or list)."""
    parts = raw if isinstance(raw, list) else raw.replace(";", ",").replace(" ", ",").split(",")
    addresses = list(dict.fromkeys(normalize_email(p) for p in parts if p.strip()))
    if not addresses:
        raise InvalidInput("give at least one address to send the test to")
    if len(addresses) > MAX_ADDRESSES:
        raise InvalidInput(f"a test goes to at most {MAX_ADDRESSES} addresses, not {len(addresses)}")
    return addresses


def send_proof(
    store: Store, settings: Settings, sender: Sender, list_slug: str, to: str | list[str],
    topics: set[str] | None = None,
) -> Proof:
    """Send the list's next issue (the sections of `topics`, or all) to `to`, marked as a test."""
    addresses = proof_addresses(to)
    suppressed = [a for a, no in zip(addresses, store.suppressed(addresses), strict=True) if no]
    if suppressed:
        raise InvalidInput(f"{', '.join(suppressed)}: suppressed (bounced, complained or forgotten); "
                           "digest sends nothing there, not even a test")
    wait = store.hit_limit("proof", list_slug, PROOFS_PER_HOUR, 3600)
    if wait:
        raise InvalidInput(f"{PROOFS_PER_HOUR} tests an hour for one list; try again in {int(wait) + 1} s")
    digest_list = store.get_list(list_slug)
    content, rendered = next_issue(store, settings, list_slug)
    variant = rendered.assemble(topics)
    if variant is None:
        raise InvalidInput("the next issue has no articles yet" if content.is_empty else
                           f"none of the topics {', '.join(sorted(topics or ()))} has articles in the next issue")
    html, text = variant
    values = rendered.reader_values(preview_token(settings, list_slug), "")
    proof_id = f"test-{list_slug}-{uuid.uuid4().hex[:12]}"
    subject = SUBJECT_PREFIX + rendered.subject_for(topics)
    sender.send(Envelope(
        subject=subject,
        html=html,
        text=text,
        from_email=digest_list.from_email,
        from_name=digest_list.from_name or digest_list.name,
        reply_to=digest_list.reply_to,
        recipients=[Recipient(email=a, substitutions=values) for a in addresses],
        custom_args={"list": list_slug, "issue": proof_id, "test": "1"},
        categories=["digest-test", list_slug],
    ))
    return Proof(proof_id, addresses, subject)
