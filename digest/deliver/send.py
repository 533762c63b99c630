"""Sending one issue of a list: plan it once, then send batch by batch.

`prepare_issue` renders the issue (premailer runs there, once), freezes the
recipients and writes the batches. `send_batch` sends one batch and records the
outcome; Celery runs it on the `send` queue (digest.tasks), `send_inline` runs
every batch in this process. The exactly-once reasoning is in ledger.py.
"""

from __future__ import annotations

import gc
import logging
import random
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

from pydantic import ValidationError

from digest.config import Settings
from digest.content import IssueContent
from digest.deliver.base import Envelope, Recipient, Sender
from digest.deliver.ledger import Ledger, Segment
from digest.deliver.ratelimit import RateLimiter
from digest.errors import InvalidInput, NotFound, TransportError
from digest.issue import next_issue
from digest.links import TokenSigner, list_unsubscribe
from digest.models import DigestList
from digest.ops.metrics import observe_send
from digest.pauses import resume_due_pauses
from digest.render import RenderedIssue, archive_url, premailer_calls
from digest.store import Store
from digest.store.subscribers import mask_topics
from digest.window import issued_keys, window_articles

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
# A claimed batch's lease: the request's own timeout and this much for the rest.
LEASE_MARGIN = 15


@dataclass
class Plan:
    issue_id: str
    batches: list[str]
    recipients: int
    no_section: int  # subscribers whose topics have nothing in this issue
    content: IssueContent
    rendered: RenderedIssue


class HaltSend(Exception):
    """The API key was refused: stop the whole send."""


class RetryLater(Exception):
    def __init__(self, delay: float, reason: str) -> None:
        super().__init__(reason)
        self.delay = delay


def backoff(attempt: int, base: float = 2.0, cap: float = 300.0) -> float:
    """Exponential backoff with full jitter (attempt counts from 1)."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


def prepare_issue(
    store: Store, settings: Settings, list_slug: str, now: datetime | None = None, *, again: bool = False,
    issue_id: str | None = None,
) -> Plan:
    """Render the list's next issue and plan its batches. It carries only articles no
    earlier issue of the list carried (`again`: what the window holds, for a manual resend).

    One list's issues are chosen one at a time (a lock), so a scheduled issue and a
    `send now` racing it never carry the same article: the second finds nothing new.
    `issue_id` names the issue (a scheduled slot's); default: the list, the day and a number.
    """
    with store.issuing_lock(list_slug):
        return _prepare_issue(store, settings, list_slug, now or datetime.now(timezone.utc), again, issue_id)


def _prepare_issue(
    store: Store, settings: Settings, list_slug: str, now: datetime, again: bool, issue_id: str | None,
) -> Plan:
    digest_list = store.get_list(list_slug)
    if not digest_list.postal_address:  # the law (CAN-SPAM) wants it in every issue; previews show its absence
        raise InvalidInput(f"list {list_slug!r} has no postal address (setting postal_address), which every issue "
                           f"must carry: set it with `digest lists add {list_slug} ... --postal-address \"...\"`")
    calls_before = premailer_calls()
    content, rendered = next_issue(store, settings, list_slug, now=now, again=again)
    if content.is_empty:
        if not again and window_articles(store, digest_list, now):  # all of them went out already
            raise InvalidInput(f"nothing new for list {list_slug!r} since its last issue: every article of the "
                               f"last {digest_list.window_days} days went out already (--force sends them again)")
        raise InvalidInput(
            f"list {list_slug!r} has no articles from the last {digest_list.window_days} days: nothing to send"
        )
    resume_due_pauses(store, list_slug, now)  # readers whose pause ended get this issue
    ledger = Ledger(store)
    issue_id = issue_id or ledger.new_issue_id(list_slug, f"{now:%Y%m%d}")
    rendered.web_url = archive_url(settings.base_url, list_slug, issue_id)  # "view in browser": this issue
    store.mark_issued(list_slug, issue_id, issued_keys(content.articles), settings.article_ttl_days * 86400 * 2)
    store.clear_draft(list_slug, content.edits_rev)  # the editors' edits went into this issue
    meta = {"subject": rendered.subject, "premailer_calls": str(premailer_calls() - calls_before)}
    ledger.create(issue_id, list_slug, meta, rendered.to_json())
    sizes = ledger.freeze(issue_id, list_slug, store.masks(list_slug))
    by_variant: dict[str, list[tuple[int, int]]] = {}
    no_section = 0
    bits = store.topic_bits(list_slug)  # once, not once for each of up to 2^topics masks
    for mask, size in sizes.items():
        variant = rendered.variant_key(mask_topics(bits, mask))
        if not variant:
            no_section += size
            ledger.drop_copy(issue_id, mask)
        elif size:
            by_variant.setdefault(variant, []).append((mask, size))
    batches = pack_batches(by_variant.values(), settings.batch_size)
    planned = sum(size for parts in by_variant.values() for _, size in parts)
    ledger.add_batches(issue_id, batches, planned, no_section)
    return Plan(issue_id, list(batches), planned, no_section, content, rendered)


def pack_batches(variants: Iterable[list[tuple[int, int]]], size: int) -> dict[str, list[Segment]]:
    """Cut each variant's (mask, count) groups into batches of at most `size` recipients.

    Groups of one variant share batches, so a batch is full unless it is the
    variant's last one.
    """
    batches: dict[str, list[Segment]] = {}
    for groups in variants:
        current: list[Segment] = []
        room = size
        for mask, count in groups:
            start = 0
            while start < count:
                take = min(room, count - start)
                current.append((mask, start, take))
                start += take
                room -= take
                if room == 0:
                    batches[f"{len(batches):06d}"] = current
                    current, room = [], size
        if current:
            batches[f"{len(batches):06d}"] = current
    return batches


@dataclass
class _IssueView:
    """What every batch of one issue shares, read once per worker process."""

    digest_list: DigestList
    rendered: RenderedIssue
    # mask -> subject, html, text, and the text with the HTML's greeting placeholder (a
    # batch whose readers' greetings read the same in both parts sends one substitution)
    variants: dict[int, tuple[str, str, str, str]]
    bits: dict[str, int] | None = None  # the list's topic bits, read at the first variant

    def variant(self, store: Store, mask: int) -> tuple[str, str, str, str]:
        if mask not in self.variants:
            if self.bits is None:
                self.bits = store.topic_bits(self.digest_list.slug)
            topics = mask_topics(self.bits, mask)
            parts = self.rendered.assemble(topics)
            assert parts is not None, "planning drops choices with no section"
            markers = self.rendered.markers
            html, text = parts
            self.variants[mask] = (self.rendered.subject_for(topics), html, text,
                                   text.replace(markers.greeting_text, markers.greeting_html))
        return self.variants[mask]


@lru_cache(maxsize=8)  # an issue's list never changes (an unknown issue raises: not cached)
def _issue_list(store: Store, issue_id: str) -> str:
    list_slug = store.r.hget(store.key("issue", issue_id), "list")
    if list_slug is None:
        raise NotFound("issue", issue_id)
    return str(list_slug)


@lru_cache(maxsize=2)  # a worker sends one issue at a time, rarely two
def _issue(store: Store, issue_id: str) -> _IssueView:
    ledger = Ledger(store)
    raw = ledger.rendered_json(issue_id)
    if raw is None:
        raise NotFound("issue", issue_id)
    digest_list = store.get_list(ledger.meta(issue_id)["list"])
    return _IssueView(digest_list, RenderedIssue.from_json(raw), {})


_PHRASE_SPECIALS = frozenset('()<>@,;:\\".[]')


def list_id_header(digest_list: DigestList) -> str:
    """RFC 2919's List-Id: the list's name as a phrase (quoted when it holds a special such
    as "<" or ","), then <slug.domain>. The name is one line (DigestList checks it)."""
    domain = digest_list.from_email.rsplit("@", 1)[-1]
    name = digest_list.name
    if not _PHRASE_SPECIALS.isdisjoint(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{digest_list.slug}.{domain}>"


def build_envelope(
    store: Store, settings: Settings, issue_id: str, batch_id: str,
) -> tuple[Envelope, int]:
    """The request for one batch, and how many of its addresses were suppressed (read now,
    without claiming the batch; send_batch claims and reads in one step)."""
    ledger = Ledger(store)
    list_slug = _issue(store, issue_id).digest_list.slug
    segments = ledger.segments(issue_id, batch_id)
    emails, records, blocked = ledger.fetch(
        issue_id, segments, store.key("list", list_slug, "subs"), store.key("suppressed"))
    return envelope_for(store, settings, issue_id, batch_id, segments[0][0], emails, records, blocked)


def envelope_for(
    store: Store, settings: Settings, issue_id: str, batch_id: str, mask: int,
    emails: list[str], records: list[str | None], blocked: list[str | None],
) -> tuple[Envelope, int]:
    """The request for a batch of variant `mask` (every segment of a batch comes to the
    same variant) from its addresses, their records and suppression entries, and how
    many of them were left out. Checked at send time, not at planning: an unsubscribe
    during the send is honoured."""
    issue = _issue(store, issue_id)
    digest_list, rendered = issue.digest_list, issue.rendered
    list_slug = digest_list.slug
    domain = settings.inbound_parse_domain or digest_list.from_email.rsplit("@", 1)[-1]  # mailto unsubscribes
    base = settings.base_url
    # Runs once per recipient (a million a send): names bound once, the record split in place.
    sign, greet = TokenSigner(settings).sign, rendered.greeter()
    token_key, html_key, text_key = rendered.markers.token, rendered.markers.greeting_html, \
        rendered.markers.greeting_text
    one_greeting = True  # every reader's greeting the same in the HTML and the text (the usual case)
    recipients = []
    append = recipients.append
    for email, raw, is_blocked in zip(emails, records, blocked, strict=True):
        if raw is None or is_blocked:
            continue
        _seq, _mask, status, _created, name = raw.split("|", 4)  # Record.unpack's fields, without its int()s
        if status != "active":
            continue
        token = sign(list_slug, email)
        greeting_html, greeting_text = greet(name)
        values = {token_key: token, html_key: greeting_html}
        if greeting_text is not greeting_html and greeting_text != greeting_html:
            values[text_key] = greeting_text
            one_greeting = False
        append(Recipient(email, name, values, {"List-Unsubscribe": list_unsubscribe(base, domain, token, list_slug)}))
    subject, html, text, text_one_greeting = issue.variant(store, mask)
    if one_greeting:  # the text part takes the HTML's greeting placeholder: one substitution a reader
        text = text_one_greeting
    else:  # the text part keeps its own: every reader needs a value for it
        for rcpt in recipients:
            rcpt.substitutions.setdefault(text_key, rcpt.substitutions[html_key])
    envelope = Envelope(
        subject=subject,
        html=html,
        text=text,
        from_email=digest_list.from_email,
        from_name=digest_list.from_name or digest_list.name,
        reply_to=digest_list.reply_to,
        recipients=recipients,
        headers={"List-Unsubscribe-Post": "List-Unsubscribe=One-Click", "List-Id": list_id_header(digest_list)},
        custom_args={"list": list_slug, "issue": issue_id, "batch": batch_id},  # traceable in SendGrid
        categories=["digest", list_slug],
    )
    return envelope, len(emails) - len(recipients)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector held off for one batch (send_batch is wrapped in it).

    A batch makes ~7,000 dicts and lists (a personalization per recipient), enough to
    set off a dozen collections that each walk the worker's heap: ~2 ms of a batch's
    ~9. None of them is in a cycle, so reference counting frees them all when the
    batch returns, before the collector is back on; the few cycles made meanwhile
    (urllib's handlers) wait for the next collection.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@_no_cycle_collection()
def send_batch(
    store: Store, settings: Settings, sender: Sender, issue_id: str, batch_id: str, attempt: int = 1,
) -> str:
    """Send one batch if we can claim it; return what became of it.

    Raises RetryLater (transient failure; the batch is in `retry`) and HaltSend
    (the key was refused; the batch is back to `pending` and the issue halted).
    """
    ledger = Ledger(store)
    segments = ledger.segments(issue_id, batch_id)
    if settings.send_rate:
        # Wait for our slot before claiming: a worker killed while it waits
        # leaves nothing unconfirmed.
        RateLimiter(store, settings.send_rate).acquire(sum(n for _, _, n in segments))
    token = uuid.uuid4().hex
    lease = settings.sendgrid_timeout + LEASE_MARGIN
    emails: list[str] = []
    records: list[str | None] = []
    try:
        records_key = store.key("list", _issue_list(store, issue_id), "subs")
    except NotFound:  # no such issue: the claim says so (or, for a batch, the build below fails)
        claim = ledger.claim(issue_id, batch_id, token, lease=lease)
    else:  # claimed and read in one round trip
        claim, emails, records = ledger.claim_and_fetch(issue_id, batch_id, token, segments, records_key, lease)
    if claim != "claimed":
        return claim
    try:
        # Suppressions now, after the claim: an unsubscribe during the send is honoured.
        # The lease is renewed in the same round trip, just before the request is built.
        blocked = ledger.suppressed(emails, store.key("suppressed"), hold=(issue_id, batch_id, token, lease))
        envelope, suppressed = envelope_for(store, settings, issue_id, batch_id, segments[0][0] if segments else 0,
                                            emails, records, blocked)
    except Exception as exc:  # nothing was sent: safe to try again later, unless it can never work
        log.exception("issue %s batch %s: could not build the request", issue_id, batch_id)
        # Invalid data (a list saved before its from address was checked) is not fixed
        # by waiting: the batch fails at once with the reason. Something missing (an
        # issue's rendering wiped) may come back, so that is retried, MAX_ATTEMPTS times.
        never = isinstance(exc, (InvalidInput, ValidationError))
        state = "failed" if never or attempt >= MAX_ATTEMPTS else "retry"
        ledger.finish(issue_id, batch_id, token, state, {"error": f"could not build the request: {exc}"})
        if state == "failed":
            return state
        raise RetryLater(backoff(attempt, settings.send_retry_base), repr(exc)) from exc
    n = len(envelope.recipients)
    if n == 0:
        ledger.finish(issue_id, batch_id, token, "skipped", {"recipients": 0}, suppressed=suppressed)
        return "skipped"
    info = {"recipients": n, "attempts": attempt, "at": time.time()}
    try:
        with observe_send(store, sender.name, envelope.custom_args["list"], n):  # latency, status, handed over
            sender.send(envelope)
    except TransportError as exc:
        info["error"] = str(exc)
        if exc.halt:
            ledger.halt(issue_id, str(exc))
            ledger.finish(issue_id, batch_id, token, "pending", info)
            raise HaltSend(str(exc)) from None
        if exc.ambiguous:
            ledger.finish(issue_id, batch_id, token, "unconfirmed", info)
            return "unconfirmed"
        if exc.permanent or attempt >= MAX_ATTEMPTS:
            ledger.finish(issue_id, batch_id, token, "failed", info, failed=n, requests=1)
            return "failed"
        ledger.finish(issue_id, batch_id, token, "retry", info, requests=1)
        if exc.retry_after is not None:  # 429: wait for the reset, spread out so workers don't stampede
            delay = exc.retry_after + random.uniform(0, settings.send_retry_base / 2)
        else:
            delay = backoff(attempt, settings.send_retry_base)
        raise RetryLater(delay, str(exc)) from None
    ledger.finish(issue_id, batch_id, token, "accepted", info, accepted=n, suppressed=suppressed, requests=1)
    return "accepted"


def send_inline(store: Store, settings: Settings, sender: Sender, issue_id: str) -> dict[str, int]:
    """Send every open batch of an issue in this process (demo, --here, tests)."""
    outcomes: dict[str, int] = {}
    ledger = Ledger(store)
    for batch_id in ledger.batch_ids(issue_id, ("pending", "retry")):
        attempt = 1
        while True:
            try:
                outcome = send_batch(store, settings, sender, issue_id, batch_id, attempt)
                break
            except RetryLater as wait:
                attempt += 1
                time.sleep(min(wait.delay, 30))
            except HaltSend:
                outcomes["halted"] = 1
                return outcomes
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    ledger.mark_done_if_finished(issue_id)
    return outcomes


def settle_sends(store: Store, recent: int = 5) -> dict[str, list[str]]:
    """Look after the lists' recent issues that are still sending (the beat's tick runs it):
    batches whose sender died mid-request become unconfirmed (and are logged), and an
    issue whose batches are all settled is marked done, whether or not anyone waited on it.
    Returns the batches found stale, by issue."""
    ledger = Ledger(store)
    stale: dict[str, list[str]] = {}
    for digest_list in store.lists():
        for issue_id in ledger.issues(digest_list.slug)[-recent:]:
            if ledger.meta(issue_id).get("status") != "sending":
                continue
            moved = ledger.expire_stale(issue_id)
            if moved:
                stale[issue_id] = moved
                log.error("issue %s: batches %s were in flight when their sender stopped; they are unconfirmed: "
                          "check SendGrid's activity feed, then digest send resolve", issue_id, ", ".join(moved))
            ledger.mark_done_if_finished(issue_id)
    return stale
