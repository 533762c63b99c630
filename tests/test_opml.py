"""OPML import and export: nested folders, per-outline problems, XML attacks refused, valid OPML 2.0 out."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import pytest
from lxml import etree

from digest.collect.fetch import fetch_feed, make_client
from digest.collect.opml import export_opml, import_feeds, read_opml
from digest.errors import FetchError, InvalidInput
from digest.models import Feed

NOW = datetime(2026, 11, 24, 8, 30, tzinfo=timezone.utc)

READER_EXPORT = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>My subscriptions</title></head>
  <body>
    <outline text="Science" title="Science">
      <outline text="Space" title="Space">
        <outline type="rss" text="Orbital Times" title="Orbital Times" xmlUrl="https://orbital.example/feed.atom"
                 htmlUrl="https://orbital.example/"/>
      </outline>
      <outline type="rss" text="Climate Desk" xmlUrl="https://climate.example/rss" category="/Environment,/Weekly"/>
    </outline>
    <outline type="rss" text="Market Brief" title="Market Brief" xmlUrl="https://markets.example/feed.json"/>
    <outline type="rss" text="Bad scheme" xmlUrl="javascript:alert(1)"/>
    <outline type="rss" text="FTP" xmlUrl="ftp://files.example/feed"/>
    <outline type="rss" text="Relative" xmlUrl="/feed.xml"/>
    <outline type="rss" text="Empty"/>
    <outline type="rss" text="Spaces" xmlUrl="https://bad host.example/feed"/>
    <outline type="rss" text="Orbital again" xmlUrl="https://ORBITAL.example/feed.atom?utm_source=reader"/>
    <outline type="link" text="Just a page" url="https://page.example/"/>
    <outline type="rss" text="Caf&#233; &amp; Cr&#232;me" xmlUrl="https://cafe.example/feed"/>
  </body>
</opml>
"""


def test_nested_folders_become_categories_and_bad_outlines_are_reported_by_line(store):
    document = read_opml(READER_EXPORT.encode(), "subs.opml")
    assert document.title == "My subscriptions"
    result = import_feeds(store, document)
    feeds = {f.id: f for f in store.feeds()}
    assert sorted(feeds) == ["cafe-creme", "climate-desk", "market-brief", "orbital-times"]
    assert feeds["orbital-times"] == Feed(id="orbital-times", url="https://orbital.example/feed.atom",
                                          name="Orbital Times", categories=["Science", "Space"])
    assert feeds["climate-desk"].categories == ["Science", "Environment", "Weekly"]
    assert feeds["cafe-creme"].name == "Café & Crème"
    assert [f.id for f in result.added] == ["orbital-times", "climate-desk", "market-brief", "cafe-creme"]
    assert result.problems == [
        "line 13 ('Bad scheme'): 'javascript:alert(1)' is not an http(s) URL",
        "line 14 ('FTP'): 'ftp://files.example/feed' is not an http(s) URL",
        "line 15 ('Relative'): '/feed.xml' is not an http(s) URL",
        "line 16 ('Empty'): a feed outline without an xmlUrl",
        "line 17 ('Spaces'): 'https://bad host.example/feed' is not an http(s) URL",
        "line 18 ('Orbital again'): the same feed as line 8 ('Orbital Times')",
    ]


def test_feeds_already_there_are_not_added_twice_and_ids_do_not_collide(store):
    store.add_feed(Feed(id="market-brief", url="https://other.example/feed"))
    store.add_feed(Feed(id="mine", url="https://climate.example/rss"))
    result = import_feeds(store, read_opml(READER_EXPORT.encode(), "subs.opml"))
    assert "line 10 ('Climate Desk'): already a feed (mine)" in result.problems
    assert store.get_feed("market-brief-2").url == "https://markets.example/feed.json"
    assert store.get_feed("market-brief").url == "https://other.example/feed"  # untouched
    again = import_feeds(store, read_opml(READER_EXPORT.encode(), "subs.opml"))
    assert again.added == [] and len(store.feeds()) == 5


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE opml [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<opml version="2.0"><head><title>&lol9;</title></head>
<body><outline type="rss" text="&lol9;" xmlUrl="https://lol.example/feed"/></body></opml>
"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE opml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<opml version="2.0"><head><title>x</title></head>
<body><outline type="rss" text="&secret;" xmlUrl="https://x.example/feed"/></body></opml>
"""
PARAMETER_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE opml [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<opml version="2.0"><body><outline type="rss" text="x" xmlUrl="https://x.example/feed"/></body></opml>
"""


@pytest.mark.parametrize("attack", [BILLION_LAUGHS, EXTERNAL_ENTITY, PARAMETER_ENTITY])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_entity_attacks_are_refused_whatever_the_encoding(store, attack, encoding):
    body = attack.encode(encoding)  # utf-16 comes with a byte order mark: a byte scan would miss the DOCTYPE
    started = time.monotonic()
    with pytest.raises(InvalidInput, match="refused: a DOCTYPE or entity declaration"):
        read_opml(body, "attack.opml")
    assert time.monotonic() - started < 1 and store.feeds() == []


def test_an_undeclared_entity_is_not_expanded_or_fetched():
    document = read_opml(b'<opml version="2.0"><body><outline type="rss" text="a &ext; b" '
                         b'xmlUrl="https://x.example/feed"/></body></opml>', "undeclared.opml")
    assert [f.url for f in document.feeds] == ["https://x.example/feed"]
    assert "passwd" not in document.feeds[0].title and document.problems[0].startswith(
        "undeclared.opml: malformed XML, read leniently")


def test_malformed_opml_is_read_leniently_and_said_so():
    body = b'<opml version="1.0"><body><outline type="rss" text="Q&A" xmlUrl="https://qa.example/rss?a=1&b=2"/>'
    document = read_opml(body, "broken.opml")
    assert [f.url for f in document.feeds] == ["https://qa.example/rss?a=1&b=2"]
    assert document.problems and "malformed XML, read leniently" in document.problems[0]


@pytest.mark.parametrize("body,message", [
    (b"", "not XML"),
    (b"\x89PNG\r\n\x1a\n\0\0", "not XML"),
    (b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>', "not OPML (the document is <rss>"),
    (b"<!DOCTYPE html><html><body>hi</body></html>", "refused"),
    (b'<opml version="2.0"><head/></opml>', "OPML without a <body>"),
])
def test_what_is_not_opml_is_a_clear_error(body, message):
    with pytest.raises(InvalidInput, match=re.escape(message)):
        read_opml(body, "thing.opml")


def test_an_outline_bomb_stops_at_the_cap():
    outlines = "".join(f'<outline type="rss" text="f{i}" xmlUrl="https://f.example/{i}"/>' for i in range(10_050))
    document = read_opml(f'<opml version="2.0"><body>{outlines}</body></opml>'.encode(), "big.opml")
    assert len(document.feeds) == 10_000 and "more than 10000 outlines" in document.problems[-1]


def test_an_opml_in_latin1_reads_as_written():
    body = ('<?xml version="1.0" encoding="iso-8859-1"?><opml version="2.0"><body>'
            '<outline text="Économie" title="Économie"><outline type="rss" text="Le Monde – Économie" '
            'xmlUrl="https://lemonde.example/eco/rss"/></outline></body></opml>').encode("windows-1252")
    (feed,) = read_opml(body, "fr.opml").feeds
    assert feed.title == "Le Monde – Économie" and feed.categories == ["Économie"]


def test_the_shared_reader_exports(shared):
    resources = shared / "feeds" / "rsparser" / "Tests" / "RSParserTests" / "Resources"
    for name in ("Subs.opml", "SubsNoTitleAttributes.opml"):
        document = read_opml((resources / name).read_bytes(), name)
        assert document.title == "Subs" and len(document.feeds) == 206, name
        assert len(document.problems) == 1 and "the same feed as line" in document.problems[0]
        assert all(f.url.startswith(("http://", "https://")) and f.title for f in document.feeds)
        assert {c for f in document.feeds for c in f.categories} >= {"Programming", "Macintosh"}


# -- export ----------------------------------------------------------------------------------


def exported_feeds() -> list[Feed]:
    return [
        Feed(id="orbital", url="https://orbital.example/feed.atom", name="Orbital Times",
             categories=["Science", "Space"]),
        Feed(id="tricky", url="https://t.example/rss?a=1&b=2", name='Q&A <"quoted"> \x07bell\ufffe'),
        Feed(id="bare", url="https://bare.example/feed"),
        Feed(id="letters", kind="newsletter", name="A newsletter", senders=["news@letters.example"]),
        Feed(id="climate", url="https://climate.example/rss", name="Climate Desk", categories=["Science"]),
    ]


def test_the_export_is_valid_opml_2_with_titles_and_folders():
    document = export_opml(exported_feeds(), title="Planet feeds", now=NOW)
    root = etree.fromstring(document)  # well-formed, control characters and all
    assert document.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.findtext("head/title") == "Planet feeds"
    assert parsedate_to_datetime(root.findtext("head/dateCreated")) == NOW
    assert all(o.get("text") for o in root.iter("outline"))  # OPML 2.0: every outline has text
    (science,) = [o for o in root.find("body") if o.get("text") == "Science"]
    assert [(o.get("text"), o.get("xmlUrl"), o.get("type"), o.get("category")) for o in science] == [
        ("Orbital Times", "https://orbital.example/feed.atom", "rss", "/Space"),
        ("Climate Desk", "https://climate.example/rss", "rss", None)]
    top = {o.get("text"): o.get("xmlUrl") for o in root.find("body") if o.get("xmlUrl")}
    assert top == {'Q&A <"quoted"> bell': "https://t.example/rss?a=1&b=2", "bare": "https://bare.example/feed"}
    assert b"letters" not in document  # newsletters have no feed URL


def test_export_then_import_gives_the_same_feeds(store):
    feeds = [f for f in exported_feeds() if f.kind == "feed"]
    result = import_feeds(store, read_opml(export_opml(feeds, title="x", now=NOW), "round.opml"))
    assert result.problems == []
    back = {f.url: (f.name, f.categories) for f in store.feeds()}
    assert back == {f.url: (" ".join(f.name.replace("\x07", "").replace("\ufffe", "").split()) or f.id,
                            f.categories) for f in feeds}


# -- from a URL, through the guard; and the command line ----------------------------------------


def test_an_opml_url_is_fetched_through_the_guard(settings, server):
    url = server.route("/subs.opml", READER_EXPORT, headers={"Content-Type": "text/x-opml"})
    with make_client(settings) as client:
        assert len(read_opml(fetch_feed(client, url, max_bytes=10_000).content or b"", url).feeds) == 4
        with pytest.raises(FetchError, match="10.9.8.7"):
            fetch_feed(client, "http://10.9.8.7/subs.opml", max_bytes=10_000)


def test_import_and_export_from_the_command_line(run, store, server, tmp_path):
    path = tmp_path / "subs.opml"
    path.write_text(READER_EXPORT, encoding="utf-8")
    r = run("feeds", "import-opml", str(path))
    assert r.returncode == 0, r.stderr
    assert "added orbital-times\thttps://orbital.example/feed.atom\tScience, Space" in r.stdout
    assert "4 feeds added, 6 outlines not added" in r.stdout
    assert "not added: line 13 ('Bad scheme'): 'javascript:alert(1)' is not an http(s) URL" in r.stderr
    url = server.route("/more.opml", '<opml version="2.0"><body><outline type="rss" text="More" '
                                     'xmlUrl="https://more.example/feed"/></body></opml>')
    assert run("feeds", "import-opml", url).returncode == 0 and store.get_feed("more").name == "More"
    r = run("feeds", "import-opml", "http://10.9.8.7/subs.opml")
    assert r.returncode == 1 and "10.9.8.7" in r.stderr
    r = run("feeds", "import-opml", str(tmp_path / "missing.opml"))
    assert r.returncode == 1 and "no such file" in r.stderr
    r = run("feeds", "export-opml")
    assert r.returncode == 0
    outlines = etree.fromstring(r.stdout.encode()).iter("outline")
    assert {o.get("xmlUrl") for o in outlines if o.get("xmlUrl")} == {f.url for f in store.feeds()}
