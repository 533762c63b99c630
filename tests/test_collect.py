"""Collecting feeds from a loopback server into the real store."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from digest.collect.collector import collect_all, collect_feed
from digest.errors import NotFound
from digest.models import DigestList, FeedState
from digest.store import Store
from digest.window import window_articles
from tests.factories import add_feed as add

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Planet</title>
<item><title>Rocket reaches orbit</title><link>https://planet.example/a?utm_source=rss&amp;id=7&amp;fbclid=zz</link>
<guid>a-1</guid><pubDate>Sun, 22 Nov 2026 10:00:00 +0100</pubDate><category>Space</category>
<description><![CDATA[<p onclick="x()">Launch went well.</p><script>alert(1)</script>
<img src="https://planet.example/i.jpg" onerror="steal()"><img src="https://t.example/p.gif" width="1" height="1">
<iframe src="https://ads.example"></iframe><a href="javascript:alert(1)">x</a><style>p{}</style>]]></description></item>
<item><title>Markets calm</title><link>https://planet.example/b</link><guid>b-1</guid>
<pubDate>Sat, 21 Nov 2026 08:00:00 GMT</pubDate><description>Stocks flat.</description></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Orbit</title>
<id>tag:o</id><updated>2026-11-22T10:00:00Z</updated><entry><title>Probe lands on Mars</title><id>tag:o:1</id>
<link href="https://orbit.example/mars"/><published>2026-11-22T09:30:00-05:00</published><author><name>Sam</name></author>
<content type="html">&lt;p&gt;Touchdown.&lt;/p&gt;</content></entry></feed>"""

JSONFEED = """{"version": "https://jsonfeed.org/version/1.1", "title": "Brief", "items": [
{"id": "j1", "url": "https://brief.example/rates", "title": "Rates hold", "content_text": "The bank held rates.",
 "date_published": "2026-11-22T07:00:00Z", "image": "https://brief.example/r.jpg", "tags": ["Markets"],
 "authors": [{"name": "Priya"}]}]}"""


def week(store: Store):  # type: ignore[no-untyped-def]
    from datetime import datetime, timezone

    return store.articles_between(datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2027, 1, 1, tzinfo=timezone.utc))


def test_rss_atom_and_json_feed_become_clean_articles(store, settings, server, topics):
    add(store, "rss", server.route("/rss", RSS))
    add(store, "atom", server.route("/atom", ATOM))
    add(store, "json", server.route("/json", JSONFEED))
    results = [collect_feed(store, settings, f) for f in ("rss", "atom", "json")]
    assert [(r.new, r.error) for r in results] == [(2, None), (1, None), (1, None)]
    by_title = {a.title: a for a in week(store)}
    rocket = by_title["Rocket reaches orbit"]
    assert rocket.url == "https://planet.example/a?id=7"  # tracking parameters gone
    assert rocket.published.isoformat() == "2026-11-22T09:00:00+00:00"
    assert rocket.source == "Planet" and rocket.categories == ["Space"]
    assert rocket.image == "https://planet.example/i.jpg"
    for bad in ("<script", "onerror", "onclick", "<iframe", "javascript:", "<style", "t.example/p.gif"):
        assert bad not in rocket.summary_html
    mars = by_title["Probe lands on Mars"]
    assert mars.published.isoformat() == "2026-11-22T14:30:00+00:00" and mars.author == "Sam"
    assert mars.summary_text == "Touchdown."
    rates = by_title["Rates hold"]
    assert rates.image == "https://brief.example/r.jpg" and rates.categories == ["Markets"]
    assert rates.author == "Priya"


def test_a_304_costs_no_parsing_and_sends_the_validators_back(store, settings, server):
    modified = {"Last-Modified": "Sun, 22 Nov 2026 10:00:00 GMT"}
    add(store, "rss", server.route("/rss", RSS, etag='"v1"', headers=modified))
    assert collect_feed(store, settings, "rss").new == 2
    second = collect_feed(store, settings, "rss")
    assert second.not_modified and second.new == 0
    _, headers = server.requests[-1]
    assert headers["If-None-Match"] == '"v1"'
    assert headers["If-Modified-Since"] == "Sun, 22 Nov 2026 10:00:00 GMT"
    assert headers["User-Agent"].startswith("digest/")


def test_redirects_are_followed(store, settings, server):
    server.route("/new", ATOM)
    add(store, "moved", server.route("/old", status=301, headers={"Location": server.url("/new")}))
    assert collect_feed(store, settings, "moved").new == 1


def test_a_broken_feed_records_its_error_backs_off_and_stops_no_one(store, settings, server):
    add(store, "broken", server.route("/broken", "<html><body>Not a feed at all</body></html>"))
    add(store, "gone", server.route("/gone", status=500))
    add(store, "good", server.route("/good", ATOM))
    results = {f: collect_feed(store, settings, f) for f in ("broken", "gone", "good")}
    assert "not a feed" in results["broken"].error and "/broken" in results["broken"].error
    assert "HTTP 500" in results["gone"].error
    assert results["good"].new == 1
    state = store.feed_state("broken")
    assert state.error_count == 1 and state.next_fetch_at is not None
    assert collect_feed(store, settings, "broken").skipped  # backing off
    again = collect_feed(store, settings, "broken", force=True)
    assert again.error and store.feed_state("broken").error_count == 2
    later = store.feed_state("broken").next_fetch_at - store.feed_state("broken").last_fetched_at
    assert later.total_seconds() == 30 * 60  # doubled


def test_a_feed_that_times_out_is_an_error_not_a_hang(store, settings, server):
    add(store, "slow", server.route("/slow", RSS, delay=2.0))
    settings = settings.model_copy(update={"fetch_timeout": 0.3})
    result = collect_feed(store, settings, "slow")
    assert "timed out" in result.error


def test_an_oversized_feed_is_refused(store, settings, server):
    add(store, "huge", server.route("/huge", RSS + " " * 5000))
    settings = settings.model_copy(update={"fetch_max_bytes": 2000})
    assert "2000-byte cap" in collect_feed(store, settings, "huge").error


def test_the_same_story_from_two_feeds_is_each_feeds_own_and_a_list_of_both_shows_it_once(store, settings, server):
    add(store, "rss", server.route("/rss", RSS))
    copy = RSS.replace("<title>Planet</title>", "<title>Mirror</title>").replace("a-1", "m-1").replace("b-1", "m-2")
    add(store, "mirror", server.route("/mirror", copy))
    collect_feed(store, settings, "rss")
    mirrored = collect_feed(store, settings, "mirror")
    assert (mirrored.new, mirrored.duplicates) == (2, 0)  # the mirror's own articles: no feed stands in for another
    assert (collect_feed(store, settings, "mirror", force=True).duplicates) == 2  # and each once, fetch after fetch
    assert len(week(store)) == 4
    now = datetime(2026, 11, 23, tzinfo=timezone.utc)
    both = DigestList(slug="both", name="Both", from_email="n@example.com", feeds=["rss", "mirror"])
    shown = window_articles(store, both, now)
    assert len(shown) == 2 and {a.source for a in shown} == {"Planet"}  # each page once: the first collected
    mirror_only = both.model_copy(update={"feeds": ["mirror"]})
    assert sorted((a.source, a.title) for a in window_articles(store, mirror_only, now)) == [
        ("Mirror", "Markets calm"), ("Mirror", "Rocket reaches orbit")]


def test_one_feed_linking_one_page_twice_keeps_it_once(store, settings, server):
    twice = RSS.replace("https://planet.example/b", "https://planet.example/a?id=7")
    add(store, "rss", server.route("/rss", twice))
    result = collect_feed(store, settings, "rss")
    assert (result.new, result.duplicates) == (1, 1)  # saved in one round trip, each save still checked


def test_collect_all_deals_feeds_over_processes_with_the_same_results(store, settings, server):
    bodies = {f"f{n}": RSS.replace("planet.example/", f"p{n}.example/").replace("a-1", f"a-{n}")
              .replace("b-1", f"b-{n}").replace("Markets calm", f"Markets calm {n}")
              .replace("Rocket reaches orbit", f"Rocket {n} reaches orbit") for n in range(6)}
    for feed_id, body in bodies.items():
        add(store, feed_id, server.route(f"/{feed_id}", body))
    add(store, "broken", server.route("/broken", status=500))
    results = collect_all(store, settings, processes=3)
    assert [r.feed_id for r in results] == ["broken", *bodies]
    assert [(r.new, r.error) for r in results[1:]] == [(2, None)] * 6
    assert "HTTP 500" in results[0].error and store.feed_state("broken").error_count == 1
    assert len(week(store)) == 12
    again = collect_all(store, settings, processes=3, force=True)
    assert [(r.new, r.duplicates) for r in again[1:]] == [(0, 2)] * 6


def test_a_feed_is_changed_only_into_a_valid_feed(store):
    add(store, "planet", "https://planet.example/feed")
    with pytest.raises(ValueError, match="not an http"):
        store.update_feed("planet", url="ftp://planet.example/feed")
    assert store.get_feed("planet").url == "https://planet.example/feed"
    assert store.update_feed("planet", url="https://planet.example/rss").url == "https://planet.example/rss"
    with pytest.raises(NotFound):
        store.update_feed("nothere", url="https://planet.example/rss")
    assert store.feed_states(["planet", "nothere"]) == {"planet": FeedState(), "nothere": FeedState()}
