"""Hostile and odd feeds, through the real path: loopback server, collect_all, the real store.

Each bad feed is served as one feed among several. It may fail, but its failure
is recorded on that feed (error, error_count, a bounded next_fetch_at) and the
feeds after it are still collected; nothing it holds is kept beyond the caps,
and no article of it (or of anyone else) is lost as a false duplicate.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
import random
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import nh3
import pytest
from lxml import html as lxml_html

from digest.collect import collector
from digest.collect.collector import _backoff, collect_all, collect_feed, newest_first
from digest.collect.markup import LOOSE_BYTES_PER_UNIT, MAX_ATTRIBUTES, MAX_MARKUP
from digest.collect.parse import RawEntry
from digest.models import Article, DigestList, Feed, FeedState
from digest.store import Store
from digest.window import issued_keys, on_its_site, sent_before, window_articles
from tests.factories import add_feed as add

GOOD_ATOM = """<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Good</title>
<id>tag:good</id><updated>2026-11-22T10:00:00Z</updated><entry><title>Probe lands on Mars</title><id>tag:good:1</id>
<link href="https://good.example/mars"/><published>2026-11-22T09:30:00Z</published>
<content type="html">&lt;p&gt;Touchdown.&lt;/p&gt;</content></entry></feed>"""


def everything(store: Store) -> list[Article]:
    return store.articles_between(datetime(1970, 1, 2, tzinfo=timezone.utc), datetime(2100, 1, 1, tzinfo=timezone.utc))


def soon() -> datetime:  # a window's end just after the entries without a date (dated when collected)
    return datetime.now(timezone.utc) + timedelta(minutes=1)


def of_feed(store: Store, feed_id: str) -> list[Article]:
    return [a for a in everything(store) if a.feed_id == feed_id]


def rss(*items: str, title: str = "Feed", decl: bool = True) -> str:
    head = '<?xml version="1.0" encoding="utf-8"?>' if decl else ""
    return (f'{head}<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>{title}</title>'
            + "".join(items) + "</channel></rss>")


def item(title: str, *, link: str | None = None, guid: str | None = None, permalink: bool = False,
         description: str = "", date: datetime | None = None, extra: str = "") -> str:
    parts = [f"<title>{title}</title>"]
    if link is not None:
        parts.append(f"<link>{link}</link>")
    if guid is not None:
        parts.append(f'<guid isPermaLink="{"true" if permalink else "false"}">{guid}</guid>')
    if description:
        parts.append(f"<description><![CDATA[{description}]]></description>")
    if date is not None:
        parts.append(f"<pubDate>{format_datetime(date)}</pubDate>")
    return "<item>" + "".join(parts) + extra + "</item>"


def json_feed(items: list[object], **top: object) -> str:
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "JSON", **top, "items": items})


# -- 7. a bad feed fails alone, on its own record ----------------------------------------------

TRUNCATED = rss(item("Never finished", link="https://t.example/1")).split("<item>")[0]  # cut before the first item
DEEP_JSON = "[" * 200_000 + "]" * 200_000
DEEP_JSON_FEED = ('{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1", "title": '
                  + "[" * 200_000 + "]" * 200_000 + "}]}")
NOT_XML = "<rss version='2.0'><channel><title>x</title><<<>>></channel"


@pytest.mark.parametrize("name,body,kw,expect", [
    ("deep-json", DEEP_JSON, {}, "nested too deeply"),
    ("deep-json-feed", DEEP_JSON_FEED, {}, "nested too deeply"),
    ("truncated", TRUNCATED, {}, "malformed feed"),
    ("mangled", NOT_XML, {}, "/feed"),
    ("retry-after", "busy", {"status": 503, "headers": {"Retry-After": "999999999999"}}, "HTTP 503"),
])
def test_a_crashing_feed_records_its_error_and_the_next_feed_is_collected(store, settings, server, topics,
                                                                             name, body, kw, expect):
    add(store, "a-bad", server.route("/feed", body, **kw))
    add(store, "z-good", server.route("/good", GOOD_ATOM))
    before = datetime.now(timezone.utc)
    results = {r.feed_id: r for r in collect_all(store, settings, force=True)}
    assert expect in results["a-bad"].error
    state = store.feed_state("a-bad")
    assert state.error == results["a-bad"].error and state.error_count == 1 and state.last_ok_at is None
    assert before < state.next_fetch_at <= before + timedelta(days=7, minutes=1)
    assert results["z-good"].error is None and results["z-good"].new == 1
    assert store.feed_state("z-good").error is None


def test_a_url_the_model_accepts_and_httpx_refuses_is_an_error_of_its_feed(store, settings, server):
    # octal spelling of 127.0.0.1: Feed accepts it, httpx raises InvalidURL (not an HTTPError)
    add(store, "a-octal", f"http://0177.0.0.1:{server.httpd.server_address[1]}/good")
    add(store, "z-good", server.route("/good", GOOD_ATOM))
    results = {r.feed_id: r for r in collect_all(store, settings, force=True)}
    assert results["a-octal"].error and "0177.0.0.1" in results["a-octal"].error
    state = store.feed_state("a-octal")
    assert state.error_count == 1 and state.next_fetch_at is not None
    assert results["z-good"].new == 1


def test_an_unforeseen_exception_is_logged_with_its_traceback_and_stays_with_its_feed(
        store, settings, server, monkeypatch, caplog):
    real = collector.store_entries

    def buggy(store, settings, feed, *args):  # type: ignore[no-untyped-def]
        if feed.id == "a-bug":
            raise KeyError("a bug we did not foresee")
        return real(store, settings, feed, *args)

    monkeypatch.setattr(collector, "store_entries", buggy)
    add(store, "a-bug", server.route("/bug", GOOD_ATOM.replace("good.example", "bug.example")))
    add(store, "z-good", server.route("/good", GOOD_ATOM))
    with caplog.at_level(logging.ERROR, logger="digest.collect.collector"):
        results = {r.feed_id: r for r in collect_all(store, settings, force=True)}
    error = results["a-bug"].error
    assert "unexpected error" in error and "KeyError" in error and "/bug" in error
    state = store.feed_state("a-bug")
    assert state.error == error and state.error_count == 1 and state.next_fetch_at is not None
    assert any(r.exc_info and "a-bug" in r.getMessage() for r in caplog.records)  # with the traceback
    assert results["z-good"].new == 1


def test_a_feed_that_yields_entries_despite_a_parse_error_keeps_them(store, settings, server):
    whole = rss(item("First story", link="https://cut.example/1", guid="c1"),
                item("Second story", link="https://cut.example/2", guid="c2"))
    add(store, "cut", server.route("/cut", whole[: whole.index("Second story") + 6]))
    result = collect_feed(store, settings, "cut")
    assert result.error is None and result.new >= 1
    assert "First story" in [a.title for a in of_feed(store, "cut")]


def test_backoff_is_bounded_whatever_the_retry_after_or_the_error_count(settings):
    now = datetime(2026, 11, 22, tzinfo=timezone.utc)
    for count, retry_after in [(1, 999_999_999_999.0), (1, float("inf")), (1, float("nan")), (1, -5.0),
                               (10_000, None), (10_000, 1e300)]:
        later = _backoff(FeedState(error_count=count), settings, retry_after, now)
        assert now < later <= now + timedelta(days=7)
    assert _backoff(FeedState(error_count=1), settings, 3600.0, now) == now + timedelta(hours=1)


# -- wrong types in a JSON Feed: the field is ignored, the article kept ------------------------

WRONG_TYPES = [
    {"id": "img-int", "url": "https://j.example/1", "title": "Image is a number", "image": 5},
    {"id": "img-obj", "url": "https://j.example/2", "title": "Image is an object", "image": {"url": "x"},
     "banner_image": ["x"]},
    {"id": "authors-int", "url": "https://j.example/3", "title": "Authors is a number", "authors": 7,
     "author": "not an object"},
    {"id": "authors-mixed", "url": "https://j.example/4", "title": "Authors mixed",
     "authors": [7, None, {"name": 5}, {"name": "Ada"}, "Bob"]},
    {"id": {"x": 1}, "url": ["https://j.example/5"], "external_url": "https://j.example/5",
     "title": 55, "content_text": "Title is a number, url a list, id an object."},
    {"id": 42, "url": "https://j.example/6", "title": "Tags and attachments",
     "tags": "not-a-list", "attachments": 5},
    {"id": 43.5, "url": "https://j.example/7", "title": "Tags mixed", "tags": [1, {"a": 1}, "Space", None],
     "attachments": [5, {"url": 5, "mime_type": "image/png"}, {"url": "https://j.example/a.png", "mime_type": 7},
                     {"url": "https://j.example/ok.png", "mime_type": "image/png"}]},
    {"id": True, "url": "https://j.example/8", "title": "Dates wrong", "date_published": 5,
     "date_modified": {"y": 2026}, "content_html": 5, "summary": [1], "content_text": ["x"]},
    {"id": "dates-odd", "url": "https://j.example/9", "title": "Dates odd",
     "date_published": "0001-01-01T00:00:00+01:00", "date_modified": "9999-12-31T23:59:59-01:00"},
    {"id": "img-js", "url": "https://j.example/10", "title": "Image is javascript", "image": "javascript:alert(1)"},
    {"id": "img-data", "url": "https://j.example/11", "title": "Image is data", "image": "data:image/png;base64,AAAA"},
    {"id": "img-pixel", "url": "https://j.example/12", "title": "Image is a tracker",
     "image": "https://pixel.wp.com/g.gif?x=1"},
    ["not", "an", "object"],
    7,
]


def test_wrong_types_in_a_json_feed_are_ignored_and_its_articles_kept(store, settings, server):
    add(store, "a-json", server.route("/json", json_feed(WRONG_TYPES, title=5, home_page_url=[1])))
    add(store, "z-good", server.route("/good", GOOD_ATOM))
    results = {r.feed_id: r for r in collect_all(store, settings, force=True)}
    assert results["a-json"].error is None and results["a-json"].new == 12
    assert results["z-good"].new == 1
    by_url = {a.url: a for a in of_feed(store, "a-json")}
    assert all(by_url[f"https://j.example/{n}"].image is None for n in (1, 2, 3, 10, 11, 12))
    assert by_url["https://j.example/3"].author == "" and by_url["https://j.example/4"].author == "Ada"
    odd = by_url["https://j.example/5"]
    assert odd.title == "Title is a number, url a list, id an object." and odd.guid == odd.url
    assert by_url["https://j.example/6"].categories == [] and by_url["https://j.example/6"].guid == "42"
    assert by_url["https://j.example/7"].categories == ["Space"]
    assert by_url["https://j.example/7"].image == "https://j.example/ok.png"
    assert by_url["https://j.example/8"].summary_html == "" and by_url["https://j.example/8"].guid == by_url[
        "https://j.example/8"].url
    assert store.feed_state("a-json").error is None


# -- 8. no article lost as a false duplicate ----------------------------------------------------


def test_link_less_stories_from_five_feeds_are_five_articles(store, settings, server):
    for n in range(5):
        guid = f"<guid isPermaLink='false'>story-{n}</guid>" if n % 2 else ""
        body = rss(f"<item><title>Story {n} of feed {n}</title>{guid}"
                   f"<description>Something different happened in place {n}.</description></item>")
        add(store, f"f{n}", server.route(f"/f{n}", body))
    results = collect_all(store, settings, force=True)
    assert [(r.new, r.duplicates) for r in results] == [(1, 0)] * 5
    stories = everything(store)
    assert sorted(a.title for a in stories) == [f"Story {n} of feed {n}" for n in range(5)]
    assert all(a.url == "" for a in stories)


def test_two_items_without_link_or_guid_in_one_feed_are_two_articles(store, settings, server):
    add(store, "bare", server.route("/bare", rss(
        "<item><title>Morning note</title><description>Rain later.</description></item>",
        "<item><title>Evening note</title><description>Clear skies.</description></item>",
    )))
    result = collect_feed(store, settings, "bare")
    assert (result.new, result.duplicates) == (2, 0)
    assert len({a.id for a in of_feed(store, "bare")}) == 2
    assert collect_feed(store, settings, "bare", force=True).duplicates == 2  # and stable across fetches


def test_permalink_guids_that_differ_only_by_fragment_are_two_articles(store, settings, server):
    add(store, "live", server.route("/live", rss(
        item("Update one: the launch is delayed", guid="https://live.example/blog/launch#update-1", permalink=True),
        item("Update two: the launch is on", guid="https://live.example/blog/launch#update-2", permalink=True),
    )))
    result = collect_feed(store, settings, "live")
    assert (result.new, result.duplicates) == (2, 0)
    assert sorted(a.url for a in of_feed(store, "live")) == [
        "https://live.example/blog/launch#update-1", "https://live.example/blog/launch#update-2"]


def test_the_same_page_via_tracking_parameters_and_an_anchor_from_two_feeds_is_one_page(store, settings, server):
    add(store, "one", server.route("/one", rss(item(
        "Rates hold", link="https://news.example/rates?utm_source=rss&amp;utm_medium=feed", guid="one-1",
        description="The bank held rates."))))
    add(store, "two", server.route("/two", rss(item(
        "Central bank keeps rates", link="https://news.example/rates?fbclid=abc#comments", guid="two-9",
        description="Rates unchanged at the meeting."))))
    results = collect_all(store, settings, force=True)
    assert [(r.new, r.duplicates) for r in results] == [(1, 0), (1, 0)]  # each feed's own article of the page
    assert [a.url for a in everything(store)] == ["https://news.example/rates"] * 2
    both = DigestList(slug="both", name="Both", from_email="n@example.com", feeds=["one", "two"])
    assert [a.url for a in window_articles(store, both, soon())] == ["https://news.example/rates"]  # once to a reader


def test_a_feed_that_republishes_anothers_links_neither_hides_nor_retitles_them(store, settings, server):
    """A copycat feed collected first used to own the page's URL: the lists following only the
    real publisher lost the article, and the lists of both showed the copycat's title."""
    paper = rss(item("Council approves the new tram line", link="https://paper.example/tram", guid="p-1",
                     description="The vote was 31 to 12."), title="Paper")
    copycat = rss(item("SHOCKING: you won't believe this vote", link="https://paper.example/tram?utm_source=x",
                       guid="c-1", description="Click to claim your prize."), title="Copycat")
    add(store, "copycat", server.route("/copycat", copycat))
    add(store, "paper", server.route("/paper", paper))
    assert collect_feed(store, settings, "copycat").new == 1  # first, before the paper's own feed
    assert collect_feed(store, settings, "paper").new == 1
    readers = DigestList(slug="readers", name="Readers", from_email="n@example.com", feeds=["paper"])
    assert [(a.source, a.title) for a in window_articles(store, readers, soon())] == [
        ("Paper", "Council approves the new tram line")]
    copied = readers.model_copy(update={"slug": "copied", "feeds": ["copycat"]})
    assert [a.title for a in window_articles(store, copied, soon())] == ["SHOCKING: you won't believe this vote"]
    # A list of both shows the page once, as its publisher wrote it, though the copy came first.
    # (The loopback server stands in for both sites: the feeds' records say where they live.)
    store.add_feed(Feed(id="paper", url="https://paper.example/feed.xml"))
    store.add_feed(Feed(id="copycat", url="https://copycat.example/rss"))
    both = readers.model_copy(update={"slug": "both", "feeds": ["copycat", "paper"]})
    assert [a.title for a in window_articles(store, both, soon())] == ["Council approves the new tram line"]


@pytest.mark.parametrize("feed,page,own", [
    ("https://paper.example/feed", "https://paper.example/tram", True),
    ("https://feeds.paper.example/rss", "https://www.paper.example/tram", True),
    ("https://www.paper.example/feed", "https://news.paper.example/tram", True),
    ("https://paper.example.evil.example/feed", "https://paper.example/tram", False),
    ("https://evilpaper.example/feed", "https://paper.example/tram", False),
    ("https://evil.co.uk/feed", "https://paper.co.uk/tram", False),  # a shared suffix is not a site
    ("", "https://paper.example/tram", False),  # a newsletter: no site of its own
    ("https://[::1/feed", "https://paper.example/tram", False),
])
def test_a_page_is_on_its_feeds_site_only_under_the_feeds_own_name(feed, page, own):
    assert on_its_site(feed, page) is own


def test_a_page_sent_once_does_not_come_back_under_another_feed_or_its_old_id(store, settings, server):
    add(store, "one", server.route("/one", rss(item("Rates hold", link="https://news.example/rates", guid="1"))))
    add(store, "two", server.route("/two", rss(item("Rates held", link="https://news.example/rates", guid="2"),
                                               item("Bonds rally", link="https://news.example/bonds", guid="3"))))
    collect_feed(store, settings, "one")
    weekly = DigestList(slug="weekly", name="Weekly", from_email="n@example.com", feeds=["one"])
    sent = window_articles(store, weekly, soon())
    store.mark_issued("weekly", "weekly-1", issued_keys(sent), 3600)
    collect_feed(store, settings, "two")
    weekly = weekly.model_copy(update={"feeds": ["one", "two"]})
    window = window_articles(store, weekly, soon())
    assert sorted(a.title for a in window if a.id not in sent_before(store, "weekly", window)) == ["Bonds rally"]
    # Another feed's copy of what went out, under a URL spelled otherwise: its text was sent.
    add(store, "copy", server.route("/copy", rss(item("Rates  HOLD", link="http://www.news.example/rates?p=1",
                                                      guid="4"))))
    collect_feed(store, settings, "copy")
    weekly = weekly.model_copy(update={"feeds": ["one", "two", "copy"]})
    window = window_articles(store, weekly, soon())
    assert sorted(a.title for a in window if a.id not in sent_before(store, "weekly", window)) == ["Bonds rally"]
    # An issue sent before ids were per feed recorded the page's own sha1 as the article's id.
    store.mark_issued("legacy", "legacy-1", [hashlib.sha1(b"https://news.example/bonds").hexdigest()], 3600)
    assert {a.title for a in window if a.id in sent_before(store, "legacy", window)} == {"Bonds rally"}


def test_articles_stored_before_ids_were_per_feed_are_not_stored_again(store, settings, server):
    page = "https://news.example/rates"
    add(store, "one", server.route("/one", rss(item("Rates hold", link=page, guid="1"))))
    add(store, "two", server.route("/two", rss(item("Rates held", link=page, guid="2"))))
    # As an earlier version stored it: under the page's own sha1, with no key of the feed's.
    legacy = Article(id=hashlib.sha1(page.encode()).hexdigest(), feed_id="one", source="Feed", title="Rates hold",
                     url=page, guid="1", published=datetime.now(timezone.utc), content_hash="h")
    store.r.set(store.key("article", legacy.id), legacy.model_dump_json(), ex=3600)
    store.r.zadd(store.key("articles"), {legacy.id: legacy.published.timestamp()})
    assert (collect_feed(store, settings, "one").new, collect_feed(store, settings, "one", force=True).new) == (0, 0)
    assert collect_feed(store, settings, "two").new == 1  # another feed's copy is its own
    assert sorted((a.feed_id, a.id == legacy.id) for a in everything(store)) == [("one", True), ("two", False)]


def test_a_page_an_editor_left_out_does_not_come_back_under_another_feed(store, settings, server, weekly):
    """Left out is the page: when the article an editor left out leaves the window before the issue
    goes, another feed's article of that page (dated later) must not take its place."""
    from digest.editors import corrections

    now = datetime.now(timezone.utc)
    page = "https://paper.example/tram"
    add(store, "paper", server.route("/paper", rss(
        item("Council approves the tram", link=page, guid="p-1", date=now - timedelta(days=6)),
        item("Rocket reaches orbit", link="https://paper.example/rocket", guid="p-2", date=now))))
    add(store, "copycat", server.route("/copycat", rss(item("Tram: the vote", link=page, guid="c-1", date=now))))
    collect_feed(store, settings, "paper")
    collect_feed(store, settings, "copycat")

    def pages(when: datetime) -> list[str]:
        return sorted(a.url for a in corrections.next_content(store, settings, "weekly", when).articles)

    assert pages(now) == ["https://paper.example/rocket", page]  # the page once: the paper's article
    paper = next(a for a in of_feed(store, "paper") if a.url == page)
    corrections.exclude(store, settings, "weekly", paper.id, "ed@example.com")
    assert pages(now) == ["https://paper.example/rocket"]
    # Two days on, the paper's article is out of the window; the copycat's, dated later, is not.
    assert pages(now + timedelta(days=2)) == ["https://paper.example/rocket"]


def test_the_store_keeps_link_less_articles_apart(store):
    def article(n: int, url: str = "", guid: str = "", feed: str = "") -> Article:
        return Article(id=f"a{n}", feed_id=feed or f"feed{n}", source="S", title=f"T{n}", url=url, guid=guid,
                       published=datetime(2026, 11, 20, tzinfo=timezone.utc), content_hash=f"h{n}")

    assert [store.save_article(article(n), 3600) for n in range(3)] == [None, None, None]
    assert store.r.keys(store.key("seen", "url", "*")) == []  # no url key without a url
    assert store.save_article(article(3, url="https://x.example/", feed="f"), 3600) is None
    assert store.save_article(article(4, url="https://x.example/", feed="f"), 3600) == "a3"


# -- 9. limits ---------------------------------------------------------------------------------


def test_a_huge_description_is_stored_capped(store, settings, server):
    words = "<p>The <b>committee</b> met again and <a href='https://x.example/'>talked</a> at length. </p>"
    huge = words * (4_500_000 // len(words))
    body = rss(item("Long read", link="https://huge.example/1", description=huge))
    add(store, "huge", server.route("/huge", body, headers={"Content-Type": "application/rss+xml"}))
    add(store, "z-good", server.route("/good", GOOD_ATOM))
    started = time.monotonic()
    results = collect_all(store, settings, force=True)
    assert time.monotonic() - started < 20
    assert [r.new for r in results] == [1, 1]
    (article,) = of_feed(store, "huge")
    cap = settings.summary_max_chars
    assert 0.8 * cap < len(article.summary_html) <= cap
    assert 0.8 * cap < len(article.summary_text) <= cap and article.summary_text.endswith("at length. …")
    # still well-formed: every tag closed, a parse and re-serialization changes nothing
    assert nh3.clean(article.summary_html, tags={"p", "b", "a"}, attributes={"a": {"href", "rel"}},
                     link_rel=None) == article.summary_html
    assert len(store.r.get(store.key("article", article.id))) < 3 * cap


def test_deeply_nested_html_costs_little(store, settings, server):
    nested = "".join(f'<b class="c{i}">' for i in range(100_000)) + "deep" + "</b>" * 100_000
    divs = "<div>" * 100_000 + "deeper"
    add(store, "nest", server.route("/nest", rss(item("Nested", link="https://nest.example/1", description=nested),
                                                 item("Divs", link="https://nest.example/2", description=divs))))
    started = time.monotonic()
    result = collect_feed(store, settings, "nest")
    assert time.monotonic() - started < 20  # nh3 alone: minutes
    assert result.new == 2


# What feedparser would spend seconds of CPU on is refused before it reads any of it
# (digest.collect.markup): the budget's numbers, each one over.
OVER_BUDGET = rss("<item/>" * (MAX_MARKUP + 1))
WIDE_ELEMENT = rss(item("Wide", link="https://wide.example/1", extra="<enclosure"
                        + "".join(f' a{i}=""' for i in range(MAX_ATTRIBUTES + 1)) + "/>"))
# Not well-formed (an HTML entity XML does not define) with no item to cut at, and too long for the
# loose parser to read again.
MALFORMED_AND_LONG = rss(item("Caf&eacute;", description="x" * MAX_MARKUP * LOOSE_BYTES_PER_UNIT))


@pytest.mark.parametrize("body,expect", [
    (OVER_BUDGET, f"more than {MAX_MARKUP:,} XML elements and attributes"),
    (WIDE_ELEMENT, f"an element <enclosure> with {MAX_ATTRIBUTES + 1} attributes (at most {MAX_ATTRIBUTES})"),
    (MALFORMED_AND_LONG, "not well-formed XML: undefined entity"),
], ids=["elements", "attributes", "malformed"])
def test_a_feed_too_costly_to_parse_is_refused_on_its_own_record_and_the_next_feed_is_collected(
        store, settings, server, body, expect):
    add(store, "a-costly", server.route("/costly", body))
    add(store, "z-good", server.route("/good", GOOD_ATOM))
    results = {r.feed_id: r for r in collect_all(store, settings, force=True)}
    error = results["a-costly"].error
    assert expect in error and "too costly to read, not parsed" in error and "/costly" in error
    state = store.feed_state("a-costly")
    assert state.error == error and state.error_count == 1 and state.next_fetch_at is not None
    assert of_feed(store, "a-costly") == []
    assert results["z-good"].new == 1


def test_a_malformed_feed_of_a_few_hundred_kilobytes_is_still_read_leniently(store, settings, server):
    items = [item(f"Story {n}", link=f"https://lenient.example/{n}") for n in range(2000)]
    body = rss(item("Caf&eacute; opens", link="https://lenient.example/cafe"), *items)
    assert len(body) > 100_000
    add(store, "lenient", server.route("/lenient", body))
    result = collect_feed(store, settings, "lenient")
    assert result.error is None and result.new == settings.feed_max_items
    assert "Café opens" in [a.title for a in of_feed(store, "lenient")]


def test_a_malformed_feed_too_long_to_read_whole_gives_its_first_items(store, settings, server, caplog):
    """Feeds list their newest first: a long one with a stray entity is read up to the budget."""
    count = MAX_MARKUP * LOOSE_BYTES_PER_UNIT // 60
    items = [item(f"Story {n}", link=f"https://long.example/{n}") for n in range(count)]
    add(store, "long", server.route("/long", rss(item("Caf&eacute; opens", link="https://long.example/cafe"), *items)))
    with caplog.at_level(logging.INFO, logger="digest.collect.collector"):
        result = collect_feed(store, settings, "long")
    assert result.error is None and result.new == settings.feed_max_items
    assert "Café opens" in [a.title for a in of_feed(store, "long")]
    assert "read up to its last whole item there" in caplog.text


def test_a_feed_of_ten_thousand_items_yields_the_newest_feed_max_items(store, settings, server):
    base = datetime(2026, 11, 1, tzinfo=timezone.utc)
    order = list(range(10_000))
    random.Random(7).shuffle(order)
    items = [item(f"Story {n}", link=f"https://many.example/{n}", guid=f"m{n}", date=base + timedelta(minutes=n))
             for n in order]
    add(store, "many", server.route("/many", rss(*items)))
    settings = settings.model_copy(update={"feed_max_items": 50})
    result = collect_feed(store, settings, "many")
    assert result.new == 50 and result.over_cap == 9_950
    assert sorted(a.title for a in of_feed(store, "many")) == sorted(f"Story {n}" for n in range(9_950, 10_000))


def test_undated_entries_come_after_dated_ones_in_feed_order():
    when = datetime(2026, 11, 1, tzinfo=timezone.utc)
    entries = [RawEntry(title="u1"), RawEntry(title="old", published=when), RawEntry(title="u2"),
               RawEntry(title="new", published=when + timedelta(days=1)), RawEntry(title="u3")]
    assert [e.title for e in newest_first(entries, 4)] == ["new", "old", "u1", "u2"]


def test_a_25_kb_title_is_capped_at_a_word(store, settings, server):
    title = " ".join(f"word{n}" for n in range(4000))
    assert len(title) > 25_000
    add(store, "long", server.route("/long", rss(item(title, link="https://long.example/1"))))
    assert collect_feed(store, settings, "long").new == 1
    (article,) = of_feed(store, "long")
    assert len(article.title) <= settings.title_max_chars and article.title.endswith("…")
    assert article.title[:-1].split()[-1] in title.split()  # no word cut in half


# -- 10. text and images ------------------------------------------------------------------------


def test_a_koi8_r_feed_is_decoded_by_the_charset_of_its_content_type(store, settings, server):
    body = rss(item("Ракета вышла на орбиту", link="https://ru.example/1",
                    description="<p>Запуск прошёл успешно.</p>"), title="Новости", decl=False)
    koi8 = {"Content-Type": "text/xml; charset=koi8-r"}
    add(store, "koi8", server.route("/koi8", body.encode("koi8-r"), headers=koi8))
    assert collect_feed(store, settings, "koi8").new == 1
    (article,) = of_feed(store, "koi8")
    assert article.title == "Ракета вышла на орбиту" and article.summary_text == "Запуск прошёл успешно."
    assert article.source == "Новости"


def test_a_json_feed_is_decoded_by_the_charset_of_its_content_type(store, settings, server):
    body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "Лента",
                       "items": [{"id": "1", "url": "https://ru.example/j", "title": "Марс рядом"}]},
                      ensure_ascii=False).encode("windows-1251")
    add(store, "cp", server.route("/cp", body, headers={"Content-Type": "application/feed+json; charset=windows-1251"}))
    assert collect_feed(store, settings, "cp").new == 1
    assert [a.title for a in of_feed(store, "cp")] == ["Марс рядом"]


def test_a_bogus_charset_in_the_header_is_ignored(store, settings, server):
    add(store, "bogus", server.route("/bogus", rss(item("Plain story", link="https://b.example/1")),
                                     headers={"Content-Type": "application/rss+xml; charset=base64"}))
    assert collect_feed(store, settings, "bogus").new == 1


def test_feeds_with_a_byte_order_mark_parse(store, settings, server):
    json_body = codecs.BOM_UTF8 + json_feed([{"id": "1", "url": "https://bom.example/j", "title": "BOM JSON"}]).encode()
    xml_body = codecs.BOM_UTF8 + rss(item("BOM RSS", link="https://bom.example/x")).encode()
    add(store, "bomjson", server.route("/bj", json_body, headers={"Content-Type": "application/feed+json"}))
    add(store, "bomjson2", server.route("/bj2", json_body.replace(b"BOM JSON", b"BOM JSON again").replace(
        b"/j\"", b"/j2\"")))
    add(store, "bomxml", server.route("/bx", xml_body, headers={"Content-Type": "application/rss+xml"}))
    results = {r.feed_id: r for r in collect_all(store, settings, force=True)}
    assert {k: (r.new, r.error) for k, r in results.items()} == {
        "bomjson": (1, None), "bomjson2": (1, None), "bomxml": (1, None)}
    assert sorted(a.title for a in everything(store)) == ["BOM JSON", "BOM JSON again", "BOM RSS"]


PIXELS = [
    '<img src="https://t.example/a.gif" style="width:1px;height:1px">',
    '<img src="https://t.example/b.gif" style="WIDTH: 0; height: 0 !important">',
    '<img src="https://t.example/c.gif" style="display:none">',
    '<img src="https://t.example/d.gif" style="visibility: hidden">',
    '<img src="https://t.example/e.gif" style="max-width:1px">',
    '<img src="https://t.example/f.gif" style="opacity:0">',
    '<img src="https://t.example/g.gif" width="1px" height="1px">',
    '<img src="https://t.example/h.gif" hidden>',
    '<div style="display:none"><img src="https://t.example/i.gif" width="600"></div>',
    '<img src="https://pixel.wp.com/g.gif?blog=1" width="600">',
]


@pytest.mark.parametrize("pixel", PIXELS)
def test_a_tracking_pixel_is_removed_and_never_the_card_image(store, settings, server, pixel):
    real = '<img src="https://photos.example/launch.jpg" style="width:600px" alt="Launch">'
    add(store, "px", server.route("/px", rss(
        item("Pixel first", link="https://px.example/1", description=f"<p>Launch day.</p>{pixel}{real}"),
        item("Pixel only", link="https://px.example/2", description=f"<p>Nothing to see.</p>{pixel}"),
    )))
    assert collect_feed(store, settings, "px").new == 2
    by_title = {a.title: a for a in of_feed(store, "px")}
    first, only = by_title["Pixel first"], by_title["Pixel only"]
    html = lxml_html.fragment_fromstring(first.summary_html, create_parent="div")
    srcs = [img.get("src") for img in html.iter("img")]
    assert srcs == ["https://photos.example/launch.jpg"]
    assert first.image == "https://photos.example/launch.jpg"
    assert "<img" not in only.summary_html and only.image is None


def test_relative_links_are_resolved_against_the_feed_or_its_xml_base(store, settings, server):
    feed_url = server.url("/rel/feed.xml")
    add(store, "rel", server.route("/rel/feed.xml", rss(item(
        "Relative", link="https://rel.example/1",
        description='<p>See <a href="/2026/story">the story</a>, <a href="about">us</a> and '
                    '<a href="mailto:desk@rel.example">the desk</a>.</p><img src="img/photo.jpg" width="600">'))))
    add(store, "base", server.route("/base", """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Based</title><id>tag:b</id><updated>2026-11-22T10:00:00Z</updated>
<entry xml:base="https://news.example/section/"><title>Entry base</title><id>tag:b:1</id>
<link href="https://news.example/1"/><updated>2026-11-22T09:00:00Z</updated>
<content type="html">&lt;p&gt;Read &lt;a href="a.html"&gt;this&lt;/a&gt; don&amp;#146;t.&lt;/p&gt;</content></entry>
<entry><title>Content base, a pixel</title><id>tag:b:2</id><link href="https://news.example/2"/>
<updated>2026-11-22T08:00:00Z</updated><content type="html" xml:base="https://pixel.wp.com/">
&lt;p&gt;Words.&lt;/p&gt;&lt;img src="g.gif?blog=1" width="600"&gt;&lt;img src="https://photos.example/big.jpg"&gt;</content>
</entry>
</feed>"""))
    assert collect_feed(store, settings, "rel").new == 1 and collect_feed(store, settings, "base").new == 2
    (relative,) = of_feed(store, "rel")
    links = [(a.get("href") or "") for a in lxml_html.fragment_fromstring(relative.summary_html, create_parent="div")
             .iter("a")]
    assert links == [server.url("/2026/story"), server.url("/rel/about"), "mailto:desk@rel.example"]
    assert relative.image == server.url("/rel/img/photo.jpg") and feed_url.endswith("/rel/feed.xml")
    based = {a.title: a for a in of_feed(store, "base")}
    assert 'href="https://news.example/section/a.html"' in based["Entry base"].summary_html
    assert based["Entry base"].summary_text == "Read this don\u2019t."  # windows-1252's &#146;, as browsers read it
    # resolved first, so the tracker's host is known: the pixel goes, the real photo is the card image
    pixel = based["Content base, a pixel"]
    assert "pixel.wp.com" not in pixel.summary_html and pixel.image == "https://photos.example/big.jpg"


def test_a_feeds_own_image_fields_are_checked_for_pixels_and_schemes(store, settings, server):
    add(store, "media", server.route("/media", rss(
        item("Media pixel", link="https://m.example/1",
             extra='<media:content url="https://t.example/p.gif" medium="image" width="1" height="1"/>'),
        item("Media tracker", link="https://m.example/2",
             extra='<media:content url="https://stats.wordpress.com/b.gif" medium="image"/>'),
        item("Media fine", link="https://m.example/3",
             extra='<media:content url="https://m.example/photo.jpg" medium="image" width="800" height="600"/>'),
        item("Media javascript", link="https://m.example/4", description='<p>x</p>',
             extra='<media:content url="javascript:alert(1)" medium="image"/>'),
    )))
    assert collect_feed(store, settings, "media").new == 4
    images = {a.title: a.image for a in of_feed(store, "media")}
    assert images == {"Media pixel": None, "Media tracker": None, "Media fine": "https://m.example/photo.jpg",
                      "Media javascript": None}


def test_control_characters_never_reach_titles_authors_or_text(store, settings, server):
    body = json_feed([{"id": "c1", "url": "https://c.example/1", "title": "Bell\u0007 and\u0085 escape\u001b[31m",
                       "authors": [{"name": "Eve\u0000 \u009bX"}], "content_text": "Line one\u0008.\nTab\there.",
                       "tags": ["Sp\u0001ace"]}])
    add(store, "ctl", server.route("/ctl", body))
    assert collect_feed(store, settings, "ctl").new == 1
    (article,) = of_feed(store, "ctl")
    controls = [chr(c) for c in [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)]]
    for text in (article.title, article.author, article.summary_text, article.summary_html, *article.categories):
        assert not any(c in text for c in controls), repr(text)
    assert article.title == "Bell and escape[31m" and article.author == "Eve X" and article.categories == ["Space"]


def test_invisible_characters_cannot_make_a_link_read_otherwise_in_the_email(store, settings, server):
    """A right-to-left override in a link's path shows "https://news.example/https://www.bank.example/"
    in the text part (and in a mail client's status bar) for a link to news.example: such
    characters reach the reader percent-encoded, as a browser sends them; a host holding one
    names no host at all."""
    rlo = "\u202e"
    body = json_feed([
        {"id": "r1", "url": f"https://news.example/{rlo}/elpmaxe.knab.www//:sptth", "title": "Path"},
        {"id": "r2", "url": f"https://www.bank.example{rlo}.news.example/", "title": "Host",
         "content_text": "The host."},
        {"id": "r3", "url": "https://news.example/a\u200bb\u2066c", "title": "Zero width"},
    ])
    add(store, "rlo", server.route("/rlo", body))
    assert collect_feed(store, settings, "rlo").new == 3
    urls = {a.title: a.url for a in of_feed(store, "rlo")}
    assert urls["Path"] == "https://news.example/%E2%80%AE/elpmaxe.knab.www//:sptth"
    assert urls["Host"] == ""
    assert urls["Zero width"] == "https://news.example/a%E2%80%8Bb%E2%81%A6c"


def test_no_card_image_sends_readers_mail_clients_into_their_own_network(store, settings, server):
    """Mail clients load an email's images by themselves: a card image at a private address,
    in any spelling a browser takes, or at a name that only resolves inside a network, would
    make every reader's client request their router's or printer's pages. Such an image is
    dropped (the text's own image, if public, takes its place); public ones, and those the
    operator's FETCH_ALLOW_NETWORKS serves (the tests' loopback), stay."""
    private = ["http://192.168.0.1/reboot.png", "http://10.0.0.1/a.jpg", "http://0xa000001/a.jpg",
               "http://[::ffff:192.168.1.1]/a.jpg", "http://169.254.169.254/latest/a.jpg", "http://router/a.jpg",
               "http://printer.local/a.jpg", "http://nas.home.arpa/a.jpg", "http://localhost./a.jpg"]
    items = [{"id": f"p{n}", "url": f"https://news.example/p{n}", "title": f"Private {n}", "image": url,
              "content_html": "<p>Text.</p>"} for n, url in enumerate(private)]
    items += [
        {"id": "own", "url": "https://news.example/own", "title": "Own", "image": "http://10.1.2.3/a.jpg",
         "content_html": '<p>Text.</p><img src="https://cdn.news.example/own.jpg" width="600" height="400">'},
        {"id": "inner", "url": "https://news.example/inner", "title": "Inner",
         "content_html": '<p>Text.</p><img src="http://192.168.1.20/x.jpg" width="600" height="400">'},
        {"id": "public", "url": "https://news.example/public", "title": "Public",
         "image": "https://cdn.news.example/card.jpg"},
        {"id": "ip", "url": "https://news.example/ip", "title": "Public IP", "image": "http://93.184.216.34/c.jpg"},
        {"id": "served", "url": "https://news.example/served", "title": "Served", "image": server.url("/c.jpg")},
    ]
    add(store, "lan", server.route("/lan", json_feed(items)))
    assert collect_feed(store, settings, "lan").new == len(items)
    images = {a.title: a.image for a in of_feed(store, "lan")}
    assert all(images[f"Private {n}"] is None for n in range(len(private))), images
    assert images["Own"] == "https://cdn.news.example/own.jpg" and images["Inner"] is None
    assert images["Public"] == "https://cdn.news.example/card.jpg" and images["Public IP"] == "http://93.184.216.34/c.jpg"
    assert images["Served"] == server.url("/c.jpg")  # 127.0.0.1: in the tests' FETCH_ALLOW_NETWORKS


def test_the_caps_come_from_the_settings_and_cover_the_summary_fallback(store, settings, server):
    long_content = "<p>" + "Every word of the whole article. " * 1000 + "</p>"
    huge_summary = "<p>" + "A summary that never ends. " * 150_000 + "</p>"
    add(store, "caps", server.route("/caps", rss(item(
        "A headline that is rather longer than forty characters", link="https://caps.example/1",
        description=huge_summary,
        extra=f"<content:encoded xmlns:content='http://purl.org/rss/1.0/modules/content/'><![CDATA[{long_content}]]>"
              "</content:encoded>"))))
    settings = settings.model_copy(update={"summary_max_chars": 500, "title_max_chars": 40})
    assert collect_feed(store, settings, "caps").new == 1
    (article,) = of_feed(store, "caps")
    assert len(article.title) <= 40 and article.title.endswith("…")
    assert len(article.summary_html) <= 500 and len(article.summary_text) <= 500
    assert article.summary_text.startswith("A summary that never ends.")  # the feed's summary, capped
