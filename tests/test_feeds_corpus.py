"""Every feed file in ../shared/feeds: parsed into articles, or rejected with FeedError.

The files are real captures and hand-made hard and broken cases from three feed
parsers' test suites. Nothing may escape but FeedError, and every well-formed
feed that has items must yield articles.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from datetime import datetime, timezone

import pytest

from digest.collect.clean import html_to_text
from digest.collect.collector import to_article
from digest.collect.parse import parse_feed
from digest.errors import FeedError, InvalidInput
from digest.models import Feed

FEED_FORMATS = ("rss", "atom", "jsonfeed")
UNSAFE = re.compile(r"<(script|style|iframe|form|object|embed)\b|\son\w+\s*=|javascript:", re.IGNORECASE)
NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)


def corpus(shared):  # type: ignore[no-untyped-def]
    with (shared / "feeds" / "manifest.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def articles_from(content: bytes, name: str) -> list:  # type: ignore[type-arg]
    parsed = parse_feed(content, f"file:{name}")
    feed = Feed(id="corpus", url="https://corpus.example/feed")
    made = []
    for entry in parsed.entries:
        try:
            made.append(to_article(entry, feed, parsed.title or "corpus", NOW))
        except InvalidInput:
            pass
    return made


def test_every_file_is_parsed_or_cleanly_rejected(shared):
    outcomes: Counter[str] = Counter()
    missing = []
    for row in corpus(shared):
        content = (shared / "feeds" / row["file"]).read_bytes()
        try:
            made = articles_from(content, row["file"])
        except FeedError as exc:
            assert row["file"] in str(exc)  # the message names the culprit
            outcomes["rejected"] += 1
            made = None
        else:
            outcomes["parsed"] += 1
            for a in made:
                assert a.title or a.url
                assert a.published.tzinfo is not None and a.published <= NOW
                assert not UNSAFE.search(a.summary_html), (row["file"], UNSAFE.search(a.summary_html))
        wellformed = row["xml_wellformed_expat"] == "yes" or row["json_valid"] == "yes"
        has_items = row["approx_item_count"].isdigit() and int(row["approx_item_count"]) > 0
        if wellformed and has_items and row["format"].startswith(FEED_FORMATS) and not made:
            # only acceptable when no entry has anything to show
            entries = parse_feed(content, row["file"]).entries
            if any(e.title or e.link.startswith("http") or html_to_text(e.content_html or e.summary_html)
                   for e in entries):
                missing.append(row["file"])
    assert missing == []
    assert outcomes["parsed"] > 100 and outcomes["rejected"] >= 5, outcomes


@pytest.mark.parametrize("kind", ["html_page", "opml"])
def test_pages_and_outlines_are_not_taken_for_feeds(shared, kind):
    for row in corpus(shared):
        if row["kind"] != kind:
            continue
        content = (shared / "feeds" / row["file"]).read_bytes()
        try:
            made = articles_from(content, row["file"])
        except FeedError:
            continue
        assert made == [], row["file"]
