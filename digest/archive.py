"""The public archive's contents: a list's issues that went out, a page at a time, and its RSS feed.

Anyone may ask for these, as often as they like, so a request reads no more than
one page: the index of the issues out is read from every issue once per change of
the list's archive (its revision, store/archive.py) and kept in Redis, where every
web process finds it, and the feed, which parses up to FEED_ISSUES stored issues,
is built once per revision and list wording and kept there too. The revision is
set by every write that adds an issue or changes its status (deliver/ledger.py);
the feed's tag also covers what it shows of the list (name, language) and this
code, so a renamed list or a new release gets a new feed at once.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from xml.etree import ElementTree as ET

from digest.config import Settings
from digest.deliver.ledger import Ledger
from digest.models import DigestList
from digest.render import RenderedIssue, translations
from digest.store import Store

SENT = ("sending", "done")  # planned and handed over (or being handed over); halted ones may never go
PAGE_SIZE = 20  # five months of a weekly list
FEED_ISSUES = 50  # an RSS reader needs the recent issues, not the whole history
FEED_FORMAT = "1"  # a change of the feed's shape makes every kept feed stale: the code's stamp covers it too
# What the code is, not when it was installed: every web machine running it names the same
# kept feed and sends the same ETag (a modification time differs from machine to machine).
with open(__file__, "rb") as _source:
    _CODE_STAMP = f"{FEED_FORMAT}:{hashlib.sha256(_source.read()).hexdigest()[:16]}"


@dataclass(frozen=True)
class ArchivedIssue:
    issue_id: str
    subject: str
    created: datetime


@dataclass(frozen=True)
class ArchivePage:
    """Page `number` (from 1) of `pages` of a list's issues out, newest first."""

    issues: list[ArchivedIssue]
    number: int
    pages: int
    total: int

    @property
    def newer(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def older(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


class PastTheEnd(Exception):
    """A page number beyond the archive's last page."""

    def __init__(self, number: int, pages: int) -> None:
        super().__init__(f"there is no page {number}: the archive has {pages} page{'s' if pages != 1 else ''}")


def archive_page(store: Store, list_slug: str, number: int, size: int = PAGE_SIZE) -> ArchivePage:
    """Page `number` of the list's issues out (page 1 of an empty archive: no issue);
    PastTheEnd beyond the last."""
    total, rows = _index(store, list_slug, (number - 1) * size, number * size)
    pages = max(1, -(-total // size))
    if number > pages:
        raise PastTheEnd(number, pages)
    return ArchivePage([_row(r) for r in rows], number, pages, total)


def recent_issues(store: Store, list_slug: str, count: int) -> list[ArchivedIssue]:
    return [_row(r) for r in _index(store, list_slug, 0, count)[1]]


def _row(row: list[str]) -> ArchivedIssue:
    issue_id, subject, created = row
    return ArchivedIssue(issue_id, subject, datetime.fromtimestamp(float(created), timezone.utc))


def _index(store: Store, list_slug: str, start: int, stop: int) -> tuple[int, list[list[str]]]:
    """(how many issues are out, index rows start to stop-1), from the index kept for the
    archive's revision, built first when there is none."""
    rev = store.archive_rev(list_slug)  # before the data: see store/archive.py
    kept = store.archive_index(list_slug, rev, start, stop)
    if kept is not None:
        return kept
    rows = _sent_rows(store, list_slug)
    store.keep_archive_index(list_slug, rev, rows)
    return len(rows), rows[start:stop]


def _sent_rows(store: Store, list_slug: str) -> list[list[str]]:
    """Every issue of the list that went out, newest first, read in one round trip."""
    ledger = Ledger(store)
    ids = list(reversed(ledger.issues(list_slug)))
    with store.r.pipeline(transaction=False) as pipe:
        for issue_id in ids:
            pipe.hmget(ledger.k(issue_id), ["list", "status", "subject", "created"])
        metas = pipe.execute() if ids else []
    return [[issue_id, subject or issue_id, created or "0"]
            for issue_id, (owner, status, subject, created) in zip(ids, metas, strict=True)
            if owner == list_slug and status in SENT]


# -- the feed --------------------------------------------------------------------

@dataclass(frozen=True)
class Feed:
    body: bytes
    modified: float  # when it was built: its Last-Modified


def feed_tag(store: Store, settings: Settings, digest_list: DigestList) -> str:
    """A digest of everything the list's feed is made from: the archive's revision, what the
    feed shows of the list, the base URL and this code. Its ETag, and the key it is kept by."""
    rev = store.archive_rev(digest_list.slug)
    parts = [_CODE_STAMP, rev, settings.base_url, digest_list.slug, digest_list.name, digest_list.locale,
             _description(digest_list)]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


def archive_feed(store: Store, settings: Settings, digest_list: DigestList, tag: str) -> Feed:
    """The feed for `tag` (feed_tag, read just before), built and kept when it is not kept yet."""
    kept = store.archive_feed(digest_list.slug, tag)
    if kept is not None:
        return Feed(*kept)
    feed = Feed(build_feed(store, settings, digest_list), time.time())
    store.keep_archive_feed(digest_list.slug, tag, feed.body, feed.modified)
    return feed


def build_feed(store: Store, settings: Settings, digest_list: DigestList) -> bytes:
    """The list's last FEED_ISSUES issues out as RSS 2.0, each with its headlines by section
    (built with ElementTree, which escapes every value)."""
    base = settings.base_url.rstrip("/")
    rss = ET.Element("rss", version="2.0")
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = digest_list.name
    ET.SubElement(channel, "link").text = f"{base}/archive/{digest_list.slug}"
    ET.SubElement(channel, "description").text = _description(digest_list)
    ET.SubElement(channel, "language").text = digest_list.locale
    for issue, raw in _with_renderings(store, recent_issues(store, digest_list.slug, FEED_ISSUES)):
        item = ET.SubElement(channel, "item")
        link = f"{base}/archive/{digest_list.slug}/{issue.issue_id}"
        ET.SubElement(item, "title").text = issue.subject
        ET.SubElement(item, "link").text = link
        ET.SubElement(item, "guid", isPermaLink="true").text = link
        ET.SubElement(item, "pubDate").text = format_datetime(issue.created)
        if raw is not None:
            ET.SubElement(item, "description").text = _headlines_html(RenderedIssue.from_json(raw))
    return ET.tostring(rss, encoding="utf-8", xml_declaration=True)


def _with_renderings(store: Store, issues: list[ArchivedIssue]) -> Iterator[tuple[ArchivedIssue, str | None]]:
    """Each issue with its stored rendering, read ten at a time: one round trip for ten,
    and never fifty renderings (each the whole email) in memory at once."""
    ledger = Ledger(store)
    for i in range(0, len(issues), 10):
        chunk = issues[i:i + 10]
        yield from zip(chunk, store.mget_any([ledger.k(issue.issue_id, "rendered") for issue in chunk]), strict=True)


def _description(digest_list: DigestList) -> str:
    return translations(digest_list.locale).gettext("Past issues of %(list)s") % {"list": digest_list.name}


def _headlines_html(rendered: RenderedIssue) -> str:
    """The issue's sections and headlines as a little HTML, for the feed item's description."""
    root = ET.Element("div")
    for section in rendered.order:
        headlines = rendered.headlines.get(f"{section}~main")
        if headlines:
            ET.SubElement(root, "h3").text = rendered.names.get(section, section)
            ul = ET.SubElement(root, "ul")
            for headline in headlines:
                ET.SubElement(ul, "li").text = headline
    return "".join(ET.tostring(child, encoding="unicode", method="html") for child in root)
