"""Feed discovery: from a site's URL to its feed, through the same guarded fetch as every request.

Sites are served by the loopback feed server; the real pages of ../shared/feeds are read
for their links only (their links point at real sites, which tests never fetch).
"""

from __future__ import annotations

import time

import pytest

from digest.collect.discover import common_feed_urls, feed_links, find_feed, looks_like_html
from digest.collect.fetch import make_client
from digest.errors import FeedError, FetchError
from tests.feedserver import DribbleServer
from tests.test_hostile_feeds import GOOD_ATOM, item, json_feed, rss

RSS = rss(item("Probe lands on Mars", link="https://good.example/mars"), title="Planet RSS")
HTML_TYPE = {"Content-Type": "text/html; charset=utf-8"}
XML_TYPE = {"Content-Type": "application/rss+xml"}


def page(*links: str, base: str = "", doctype: bool = True) -> str:
    head = f'<base href="{base}">' if base else ""
    return (("<!DOCTYPE html>" if doctype else "") + "<html lang=en><head><meta charset=utf-8><title>Site</title>"
            + head + "".join(links) + "</head><body><h1>Welcome</h1><p>Articles.</p></body></html>")


def alternate(href: str, kind: str = "application/rss+xml", title: str = "Feed") -> str:
    return f'<link rel="alternate" type="{kind}" title="{title}" href="{href}">'


@pytest.fixture
def client(settings):
    with make_client(settings) as c:
        yield c


def find(client, url, **kw):  # type: ignore[no-untyped-def]
    return find_feed(client, url, max_bytes=1_000_000, **kw)


def test_a_feed_url_is_its_own_feed(client, server):
    url = server.route("/feed.xml", RSS, headers=XML_TYPE)
    found = find(client, url)
    assert (found.url, found.title, found.how) == (url, "Planet RSS", "the URL is a feed")


def test_a_page_link_is_resolved_against_the_page_and_atom_is_preferred(client, server):
    server.route("/blog/rss", RSS, headers=XML_TYPE)
    server.route("/blog/atom", GOOD_ATOM, headers={"Content-Type": "application/atom+xml"})
    server.route("/blog/comments/feed", GOOD_ATOM, headers={"Content-Type": "application/atom+xml"})
    site = server.route("/blog/", page(alternate("comments/feed", "application/atom+xml", "Comments Feed"),
                                       alternate("rss"), alternate("atom", "application/atom+xml")),
                        headers=HTML_TYPE)
    found = find(client, site)
    assert found.url == server.url("/blog/atom") and found.title == "Good"
    assert found.how == f'<link rel="alternate"> on {site}'


def test_base_href_decides_where_relative_links_point(client, server):
    server.route("/feeds/main.xml", RSS, headers=XML_TYPE)
    site = server.route("/articles/today.html", page(alternate("main.xml"), base="/feeds/"), headers=HTML_TYPE)
    assert find(client, site).url == server.url("/feeds/main.xml")


def test_a_broken_link_is_skipped_for_the_next_one(client, server):
    server.route("/feed.json", json_feed([{"id": "1", "url": "https://j.example/1", "title": "JSON story"}]),
                 headers={"Content-Type": "application/feed+json"})
    site = server.route("/", page(alternate("/gone.atom", "application/atom+xml"),
                                  alternate("/feed.json", "application/feed+json")), headers=HTML_TYPE)
    found = find(client, site)
    assert found.url == server.url("/feed.json")
    assert ("/gone.atom", None) == (server.requests[1][0], None)  # tried first, in order


def test_without_links_the_common_paths_are_tried_through_the_page_folder_first(client, server):
    server.route("/news/index.xml", RSS, headers=XML_TYPE)
    server.route("/index.xml", GOOD_ATOM, headers=XML_TYPE)
    site = server.route("/news/latest.html", page(), headers=HTML_TYPE)
    found = find(client, site)
    assert found.url == server.url("/news/index.xml") and found.how == "the common path /news/index.xml"
    tried = [path for path, _ in server.requests[1:]]
    assert tried == ["/news/feed", "/news/rss", "/news/rss.xml", "/news/atom.xml", "/news/feed.xml",
                     "/news/feed.json", "/news/index.xml"]


def test_a_site_that_answers_every_path_with_html_has_no_feed_and_says_what_was_tried(client, server):
    site = server.route("/", page(), headers=HTML_TYPE)
    for path in common_feed_urls(site):
        server.route(path.removeprefix(server.url("")), page(), headers=HTML_TYPE)  # a "soft 404"
    with pytest.raises(FeedError) as caught:
        find(client, site)
    message = str(caught.value)
    assert message.startswith(f"{site}: no feed found: the page links to no feed")
    assert f"{server.url('/feed')}: an HTML page" in message and message.count(": an HTML page") == 7


def test_links_to_private_addresses_are_refused_and_the_search_goes_on(client, server):
    server.route("/rss.xml", RSS, headers=XML_TYPE)
    site = server.route("/", page(alternate("http://169.254.169.254/latest/meta-data/"),
                                  alternate("http://10.0.0.7/feed", "application/atom+xml")), headers=HTML_TYPE)
    started = time.monotonic()
    found = find(client, site)
    assert found.url == server.url("/rss.xml") and time.monotonic() - started < 10
    assert all(path != "/latest/meta-data/" for path, _ in server.requests)


def test_refused_links_are_named_when_nothing_else_works(client, server):
    site = server.route("/", page(alternate("http://10.0.0.7/feed")), headers=HTML_TYPE)
    with pytest.raises(FeedError) as caught:
        find(client, site)
    assert "none of the feeds the page links to works" in str(caught.value)
    assert "http://10.0.0.7/feed: " in str(caught.value) and "10.0.0.7" in str(caught.value)


@pytest.mark.parametrize("body,content_type", [
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png"),
    (b'{"not": "a feed"}', "application/json"),
    (b"<opml version='2.0'><body/></opml>", "text/xml"),
])
def test_neither_a_feed_nor_a_page_is_a_clear_error(client, server, body, content_type):
    url = server.route("/thing", body, headers={"Content-Type": content_type})
    with pytest.raises(FeedError, match="neither a feed nor an HTML page"):
        find(client, url)


def test_an_unreachable_site_is_a_fetch_error_naming_it(client, server):
    url = server.url("/missing")
    with pytest.raises(FetchError, match="HTTP 404"):
        find(client, url)
    with pytest.raises(FetchError, match="10.1.2.3"):
        find(client, "http://10.1.2.3/")


def test_the_search_stops_at_its_time_budget(settings, server):
    slow = DribbleServer(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n\r\n", RSS.encode(),
                         chunk=20, interval=0.5)
    try:
        site = server.route("/", page(alternate(slow.url("/a")), alternate(slow.url("/b"))), headers=HTML_TYPE)
        with make_client(settings.model_copy(update={"fetch_deadline": 1.0})) as c:
            started = time.monotonic()
            with pytest.raises(FeedError, match="stopped after 1.5 s"):
                find(c, site, budget=1.5)
        assert time.monotonic() - started < 6
    finally:
        slow.close()


def test_an_html_page_without_a_doctype_served_as_html_is_read_for_links(client, server):
    server.route("/f", RSS, headers=XML_TYPE)
    site = server.route("/", page(alternate("/f"), doctype=False).replace("<html lang=en>", ""), headers=HTML_TYPE)
    assert find(client, site).url == server.url("/f")


def test_looks_like_html():
    assert looks_like_html(b"\xef\xbb\xbf  <!doctype html><html>")
    assert looks_like_html(b"<!-- generated --><html><head>")
    assert not looks_like_html(b'<?xml version="1.0"?><!-- x --><rss version="2.0">')
    assert not looks_like_html(b"<feed xmlns='http://www.w3.org/2005/Atom'>")


def test_the_links_of_real_pages(shared):
    pages = shared / "feeds" / "rsparser" / "Tests" / "RSParserTests" / "Resources"
    at = "https://site.example/path/page.html"
    expected = {
        "DaringFireball.html": ["https://site.example/feeds/main"],
        "coco.html": ["https://site.example/feed/all/", "https://site.example/feed/best-of/"],
        "furbo.html": ["http://furbo.org/feed/"],
        "inessential.html": ["http://inessential.com/xml/rss.xml"],
        "sixcolors.html": ["http://feedpress.me/sixcolors"],
        # its rel="alternate" links to the mobile site and to apps are not feeds
        "YouTubeTheVolvoRocks.html": ["https://www.youtube.com/feeds/videos.xml?channel_id=UCct7QF2jcWRY6dhXWMSq9LQ"],
    }
    for name, links in expected.items():
        body = (pages / name).read_bytes()
        assert looks_like_html(body), name
        assert feed_links(body, at) == links, name


def test_feed_links_ignore_what_is_not_an_http_feed():
    body = page(alternate("javascript:alert(1)"), alternate("ftp://x.example/feed"),
                '<link rel="alternate" type="application/json" href="/wp-json/wp/v2/pages/2">',
                '<link rel="alternate" hreflang="fr" href="/fr/">', alternate("  /ok.xml  "),
                '<link rel="Alternate Feed" type="application/RSS+XML; charset=utf-8" href="/second.xml">').encode()
    assert feed_links(body, "https://s.example/") == ["https://s.example/ok.xml", "https://s.example/second.xml"]


@pytest.mark.parametrize("junk", ["<a", "</", "<!", "&#"])
def test_a_page_of_broken_markup_is_read_for_links_in_linear_time(junk):
    """A hostile page's head of "<a<a<a…" cost Python's html.parser time quadratic in its length
    (a megabyte: nine minutes of CPU in the process that discovers feeds, the web app's too)."""
    body = ("<html><head>" + alternate("/feed.xml") + junk * 128_000).encode()  # no ">" after it
    started = time.monotonic()
    found = feed_links(body, "https://s.example/")
    assert time.monotonic() - started < 1.0
    assert found == ["https://s.example/feed.xml"]


# -- the command line ---------------------------------------------------------------------------


def test_feeds_add_with_a_site_url_stores_the_feed_it_links_to(run, store, server):
    server.route("/feed/", RSS, headers=XML_TYPE)
    site = server.route("/", page(alternate("/feed/")), headers=HTML_TYPE)
    r = run("feeds", "add", "planet", site)
    assert r.returncode == 0, r.stderr
    assert store.get_feed("planet").url == server.url("/feed/")
    assert f"feed planet added: {server.url('/feed/')} (<link rel=\"alternate\"> on {site})" in r.stdout


def test_feeds_add_with_a_page_without_a_feed_adds_nothing(run, store, server):
    site = server.route("/", page(), headers=HTML_TYPE)
    r = run("feeds", "add", "nofeed", site)
    assert r.returncode == 1 and "no feed found" in r.stderr
    assert store.feeds() == []


def test_feeds_add_of_an_unreachable_url_keeps_it_with_a_warning(run, store, server):
    r = run("feeds", "add", "later", server.url("/not-yet.xml"))
    assert r.returncode == 0 and "warning: not checked, kept as given" in r.stderr and "HTTP 404" in r.stderr
    assert store.get_feed("later").url == server.url("/not-yet.xml")
    r = run("feeds", "add", "offline", "https://offline.example/feed", "--as-is")
    assert r.returncode == 0 and r.stderr == "" and store.get_feed("offline").url == "https://offline.example/feed"
