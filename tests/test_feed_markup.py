"""The markup budget (digest.collect.markup): what it counts is what feedparser's strict parser
reads, it stops where that parser stops, and its limits are exact.

The budget is only sound if a document it takes for well-formed is never read again by
feedparser's loose parser: so expat, set up here as xml.sax sets it up, must fail on exactly the
documents on which feedparser falls back, checked on every XML file of ../shared/feeds and on
documents made to tell them apart (feedparser rewrites DOCTYPEs and XML declarations first).
"""

from __future__ import annotations

import csv
import xml.sax

import feedparser
import pytest

from digest.collect.encoding import decode_xml
from digest.collect.markup import LOOSE_BYTES_PER_UNIT, MAX_ATTRIBUTES, MAX_MARKUP, count_markup, readable_part
from digest.collect.parse import _AS_DECODED, _xml_start, parse_feed
from digest.errors import FeedError

HEADERS = {"content-location": "https://markup.example/feed", "content-type": _AS_DECODED}
RSS = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>{}</channel></rss>'

# Documents on which a check of the text as it is would disagree with feedparser, which first
# strips or rewrites a DOCTYPE (keeping only "safe" entities) and replaces the XML declaration.
TRICKY = {
    "a comment in the DOCTYPE that feedparser cuts in two":
        b'<!DOCTYPE rss [ <!-- > <a<a<a --> ]><rss version="2.0"><channel><title>x</title></channel></rss>',
    "an entity feedparser drops": b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY e "&amp;x">]>'
                                  b'<rss version="2.0"><channel><title>&e;</title></channel></rss>',
    "an entity feedparser keeps": b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY e "x">]>'
                                  b'<rss version="2.0"><channel><title>&e;</title></channel></rss>',
    "an external DTD and an HTML entity": b'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "http://x.example/rss.dtd">'
                                          b'<rss version="2.0"><channel><title>&nbsp;</title></channel></rss>',
    "a lower-case doctype": b'<!doctype rss [<!ENTITY e "x">]><rss version="2.0"><channel><title>&e;</title>'
                            b"</channel></rss>",
    "a declaration after a comment": b'<!-- c --><?xml version="1.0"?><rss/>',
    "white space before the root, no declaration": b'  <rss version="2.0"><channel><title>x</title></channel></rss>',
    "an undeclared prefix": b'<rss version="2.0"><channel><a:b>x</a:b></channel></rss>',
    "markup in a processing instruction": b'<?xml version="1.0"?><?x > <a<a ?><rss version="2.0"><channel>'
                                          b"<title>x</title></channel></rss>",
    "a UTF-16 declaration on UTF-8 bytes": b'<?xml version="1.0" encoding="utf-16"?><rss version="2.0"><channel>'
                                           b"<title>x</title></channel></rss>",
    "an unknown encoding declared": b'<?xml version="1.0" encoding="bogus"?><rss version="2.0"><channel>'
                                    b"<title>x</title></channel></rss>",
}


def strict_parser_gives_up(data: bytes) -> bool:
    """Does feedparser fall back from its strict parser to its loose one on `data`?"""
    parsed = feedparser.parse(data, response_headers=HEADERS, sanitize_html=False, resolve_relative_uris=False)
    return bool(parsed.get("bozo")) and isinstance(parsed.get("bozo_exception"), xml.sax.SAXException)


def as_parse_feed_hands_it(content: bytes) -> bytes:
    return _xml_start(decode_xml(content, None).text).encode("utf-8", "replace")


def test_expat_stops_on_exactly_the_feeds_where_feedparsers_strict_parser_gives_up(shared):
    documents = dict(TRICKY)
    with (shared / "feeds" / "manifest.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            content = (shared / "feeds" / row["file"]).read_bytes()
            if content.lstrip()[:1] not in (b"{", b"["):  # JSON Feeds never reach feedparser
                documents[row["file"]] = as_parse_feed_hands_it(content)
    disagree = {name: count_markup(data, HEADERS).error for name, data in documents.items()
                if bool(count_markup(data, HEADERS).error) != strict_parser_gives_up(data)}
    assert disagree == {}
    assert len(documents) > 150


def test_elements_and_attributes_are_counted_as_the_strict_parser_reads_them():
    # xmlns declarations are not attributes to a namespace-aware parser
    doc = RSS.format('<item xmlns:media="http://search.yahoo.com/mrss/"><title>a</title>'
                     '<media:content url="https://m.example/1.png" medium="image"/><guid isPermaLink="false">1</guid>'
                     "</item>")
    # rss (version), channel, title: 4; item, title, media:content (url, medium), guid (isPermaLink): 7
    assert count_markup(doc.encode(), HEADERS).units == 4 + 7
    assert count_markup(doc.encode(), HEADERS).error == ""


def test_the_budget_lets_through_exactly_max_markup_elements_and_attributes():
    fixed = count_markup(RSS.format("").encode(), HEADERS).units  # rss, channel, title and rss's version
    at_the_limit = RSS.format("<item/>" * (MAX_MARKUP - fixed)).encode()
    readable_part(at_the_limit, HEADERS, "https://markup.example/feed")
    with pytest.raises(FeedError, match=f"https://markup.example/feed: more than {MAX_MARKUP:,} XML elements"):
        readable_part(RSS.format("<item/>" * (MAX_MARKUP - fixed + 1)).encode(), HEADERS, "https://markup.example/feed")


def test_one_element_may_have_max_attributes():
    wide = "".join(f' a{i}="{i}"' for i in range(MAX_ATTRIBUTES))
    readable_part(RSS.format(f"<item{wide}/>").encode(), HEADERS, "u")
    with pytest.raises(FeedError, match=f"an element <item> with {MAX_ATTRIBUTES + 1} attributes"):
        readable_part(RSS.format(f'<item{wide} z="1"/>').encode(), HEADERS, "u")


def test_a_malformed_feed_pays_for_what_the_strict_parser_read_and_for_its_bytes_read_again():
    head = RSS.format("").split("</channel>")[0]
    spent = count_markup((head + "&nbsp;").encode(), HEADERS).units
    room = (MAX_MARKUP - spent) * LOOSE_BYTES_PER_UNIT

    def malformed(size: int) -> bytes:  # the error first: the strict parser reads nothing more
        text = head + "&nbsp;"
        return (text + "x" * (size - len(text))).encode()

    fits = malformed(room + LOOSE_BYTES_PER_UNIT - 1)
    assert readable_part(fits, HEADERS, "u") == (fits, "")
    with pytest.raises(FeedError, match="not well-formed XML: undefined entity.*read leniently only up to"
                                        ".*with no whole item or entry in that: too costly to read, not parsed"):
        readable_part(malformed(room + LOOSE_BYTES_PER_UNIT), HEADERS, "u")
    # elements before the error count too: 10,000 of them leave 40,000 bytes fewer
    late = (head + "<item/>" * 10_000 + "&nbsp;").encode()
    assert count_markup(late, HEADERS).units == spent + 10_000


def test_a_refused_feed_names_itself_and_what_was_too_much():
    with pytest.raises(FeedError) as refused:
        parse_feed(RSS.format("<p>" * (MAX_MARKUP + 1)).encode(), "https://costly.example/feed")
    assert str(refused.value).startswith("https://costly.example/feed: more than ")
    assert str(refused.value).endswith("too costly to read, not parsed")


def test_a_malformed_feed_too_long_to_read_whole_is_read_up_to_its_last_whole_item_within_budget():
    head = RSS.format("").split("</channel>")[0]
    story = "<item><title>Story {n}</title><link>https://long.example/{n}</link></item>"
    body = (head + "<item><title>Caf&eacute;</title></item>"
            + "".join(story.format(n=n) for n in range(20_000)) + "</channel></rss>").encode()
    part, note = readable_part(body, HEADERS, "https://long.example/feed")
    assert len(part) < len(body) and part.endswith(b"</item>") and body.startswith(part)
    assert note.startswith("https://long.example/feed: not well-formed XML: undefined entity")
    assert f"read up to its last whole item there ({len(part) // 1024:,} KB)" in note
    cut = count_markup(part, HEADERS)  # the part read within budget: strict up to its error, loose all of it
    assert cut.units + len(part) // LOOSE_BYTES_PER_UNIT <= MAX_MARKUP
    titles = [e.title for e in parse_feed(body, "https://long.example/feed").entries]
    assert titles[:2] == ["Café", "Story 0"] and 1000 < len(titles) < 20_001
