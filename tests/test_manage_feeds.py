"""Feeds in the editors' app (/feeds, admins only): health, add from a site's URL by discovery
through the guarded fetcher (private addresses refused), pause, resume, remove."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from digest.models import Feed, FeedState
from digest.web import create_app, feeds_admin
from tests import test_manage_topics as personas
from tests.test_discover import HTML_TYPE, RSS, XML_TYPE, alternate, page
from tests.test_manage_topics import ADA, actions, follow, post, signed_in

# The personas' fixtures (pytest finds them by these names).
app, accounts, semanal, ada, ed = personas.app, personas.accounts, personas.semanal, personas.ada, personas.ed


def test_an_admin_adds_a_feed_from_its_site_found_by_discovery(ada, store, server):
    server.route("/blog/feed.rss", RSS, headers=XML_TYPE)
    site = server.route("/blog/", page(alternate("feed.rss")), headers=HTML_TYPE)
    shown = follow(ada, post(ada, "/feeds", {"url": site}))
    feed = store.get_feed("127-0-0-1")
    assert (feed.url, feed.name, feed.status) == (server.url("/blog/feed.rss"), "Planet RSS", "active")
    assert f"Feed 127-0-0-1 added: {server.url('/blog/feed.rss')}" in shown and "link rel" in shown
    assert actions(store, None)[0][:2] == (ADA, "feed added")
    again = post(ada, "/feeds", {"url": site, "id": "127-0-0-1"})
    assert again.status_code == 400 and "exists already" in again.data.decode()


def test_a_page_without_a_feed_adds_nothing_and_says_why(ada, store, server):
    site = server.route("/", page(), headers=HTML_TYPE)
    answer = post(ada, "/feeds", {"url": site, "id": "nofeed"})
    assert answer.status_code == 400
    assert "Not added:" in answer.data.decode() and "no feed found" in answer.data.decode()
    assert f'value="{site}"' in answer.data.decode()  # the form keeps what was typed
    assert store.feeds() == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}/", "http://localhost:{port}/feed",
                                 "http://10.0.0.1/", "http://[::1]:{port}/", "http://169.254.169.254/latest/"])
def test_a_private_address_is_refused_and_never_connected_to(settings, store, accounts, server, url):
    guarded = create_app(settings.model_copy(update={"fetch_allow_networks": ""}))  # production's rule
    guarded.testing = True
    admin = signed_in(guarded, ADA)
    server.route("/", RSS, headers=XML_TYPE)
    server.route("/feed", RSS, headers=XML_TYPE)
    answer = post(admin, "/feeds", {"url": url.format(port=server.port), "id": "inside"})
    text = answer.data.decode()
    assert answer.status_code == 400 and "is not a public address; fetching it is not allowed" in text
    assert store.feeds() == [] and server.connections == 0


def test_a_slow_site_is_given_up_on_within_the_web_cap(ada, store, server, monkeypatch):
    monkeypatch.setattr(feeds_admin, "WEB_FETCH_SECONDS", 1.0)
    server.route("/", RSS, headers=XML_TYPE, delay=5)
    started = time.monotonic()
    answer = post(ada, "/feeds", {"url": server.url("/"), "id": "slow"})
    assert time.monotonic() - started < 4
    assert answer.status_code == 400 and "took longer than 1 s" in answer.data.decode()
    assert store.feeds() == []


def test_health_pause_resume_remove(ada, store):
    store.add_feed(Feed(id="good", url="https://good.example/feed"))
    store.add_feed(Feed(id="bad", url="https://bad.example/feed"))
    now = datetime(2026, 3, 2, 8, 30, tzinfo=timezone.utc)
    store.save_feed_state("good", FeedState(last_fetched_at=now, last_ok_at=now, articles_total=42))
    store.save_feed_state("bad", FeedState(last_fetched_at=now, error="https://bad.example/feed: HTTP 500",
                                           error_count=3))
    shown = ada.get("/feeds").data.decode()
    assert "2026-03-02 08:30" in shown and ">42<" in shown
    assert "pill-failing" in shown and "3 in a row: https://bad.example/feed: HTTP 500" in shown

    shown = follow(ada, post(ada, "/feeds/bad/pause"))
    assert store.get_feed("bad").status == "paused" and f"paused by {ADA}" in shown
    shown = follow(ada, post(ada, "/feeds/bad/resume"))
    assert store.get_feed("bad").status == "active" and store.feed_state("bad").error_count == 0
    shown = follow(ada, post(ada, "/feeds/bad/remove"))
    assert "Feed bad removed" in shown and [f.id for f in store.feeds()] == ["good"]
    assert [a for _, a, _ in actions(store, None)][:3] == ["feed remove", "feed resume", "feed pause"]
    assert post(ada, "/feeds/nope/pause").status_code == 404
    assert post(ada, "/feeds/good/explode").status_code == 404


def test_editors_get_404_and_no_token_or_no_session_changes_nothing(app, ed, ada, store, server):
    store.add_feed(Feed(id="good", url="https://good.example/feed"))
    assert ed.get("/feeds").status_code == 404
    for path in ("/feeds", "/feeds/good/pause", "/feeds/good/remove"):
        assert post(ed, path, {"url": server.url("/")}).status_code == 404
        assert ada.post(path, data={"url": server.url("/")}).status_code == 403  # no token
        assert ada.post(path, data={"csrf": "forged"}).status_code == 403
    out = app.test_client()
    assert out.get("/feeds").headers["Location"].startswith("/login")
    assert out.post("/feeds/good/remove").status_code == 403
    assert [(f.id, f.status) for f in store.feeds()] == [("good", "active")] and server.requests == []
    assert "Feeds</a>" not in ed.get("/lists").data.decode() and "Feeds</a>" in ada.get("/lists").data.decode()

