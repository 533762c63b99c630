"""The public archive: sent issues as they went out, for no reader; "view in browser" lands here."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from lxml import html as lxml_html

from digest.deliver.ledger import Ledger
from digest.deliver.outbox import OutboxSender
from digest.deliver.send import prepare_issue, send_inline
from digest.links import make_token, preview_token
from digest.models import DigestList, Subscriber, Topic
from digest.store import Store
from tests.factories import readers, seed_week


@pytest.fixture
def sent(store, settings, weekly):
    """An issue of the Weekly Planet that went out to three readers, one of them space only."""
    seed_week(store, ["climate", "space", "markets"])
    store.add_subscribers("weekly", readers(3, [None, ["space"]]))
    plan = prepare_issue(store, settings, "weekly")
    send_inline(store, settings, OutboxSender(settings.outbox_dir), plan.issue_id)
    return plan


def test_a_sent_issue_shows_as_sent_with_nobodys_links(client, settings, sent):
    r = client.get(f"/archive/weekly/{sent.issue_id}")
    assert r.status_code == 200 and r.mimetype == "text/html"
    page = r.data.decode()
    doc = lxml_html.document_fromstring(page)
    assert [h.text_content() for h in doc.iter("h2")] == ["In this issue", "Climate", "Markets", "Space", "More news"]
    assert doc.find_class("greeting")[0].text_content().strip() == "Here is your week."
    hrefs = {a.get("href") for a in doc.iter("a")}
    assert f"https://digest.example/u/{preview_token(settings, 'weekly')}" in hrefs
    for address in (f"reader{i}@example.com" for i in range(3)):  # no reader's address or link
        assert address not in page and make_token(settings, "weekly", address) not in page
    assert sent.rendered.markers.token not in page and sent.rendered.markers.greeting_html not in page


def test_a_readers_view_in_browser_link_shows_their_sections(client, sent):
    space = client.get(f"/archive/weekly/{sent.issue_id}?topics=space")
    headings = [h.text_content() for h in lxml_html.document_fromstring(space.data).iter("h2")]
    assert space.status_code == 200 and headings == ["Space"]
    text = client.get(f"/archive/weekly/{sent.issue_id}?topics=space&format=text")
    assert text.mimetype == "text/plain" and "\nSpace\n-----\n" in text.data.decode()
    assert "Climate story" not in text.data.decode()
    assert client.get(f"/archive/weekly/{sent.issue_id}?topics=cooking").status_code == 404
    assert client.get(f"/archive/weekly/{sent.issue_id}?topics=<b>").status_code == 400


def test_only_sent_issues_of_that_list_are_shown(client, store, settings, sent):
    store.add_list(DigestList(slug="other", name="Other", from_email="n@p.example", postal_address="1 Road"))
    assert client.get(f"/archive/other/{sent.issue_id}").status_code == 404  # another list's issue
    assert client.get("/archive/weekly/weekly-20990101-9").status_code == 404
    assert client.get("/archive/nolist").status_code == 404
    ledger = Ledger(store)
    ledger.create("weekly-planned-1", "weekly", {"subject": "Not out yet"}, sent.rendered.to_json())
    assert client.get("/archive/weekly/weekly-planned-1").status_code == 404  # never handed over
    index = client.get("/archive/weekly").data.decode()
    assert "Not out yet" not in index
    links = [(a.get("href"), a.text_content()) for a in lxml_html.document_fromstring(index).iter("a")]
    assert (f"/archive/weekly/{sent.issue_id}", sent.rendered.subject) in links


def test_the_archive_speaks_the_lists_language_and_says_when_it_is_empty(client, store, settings):
    store.add_list(DigestList(slug="semanal", name="El Planeta", from_email="n@p.example", locale="es",
                              postal_address="Calle Mayor 1, Madrid", topics=[Topic(slug="espacio", name="Espacio")]))
    page = client.get("/archive/semanal").data.decode()
    assert '<html lang="es"' in page and "Números anteriores de El Planeta" in page
    assert "Todavía no se ha enviado ningún número." in page
    seed_week(store, ["espacio"], list_slug="semanal")
    store.add_subscriber("semanal", Subscriber(email="carla@example.com", name="Carla"))
    plan = prepare_issue(store, settings, "semanal")
    send_inline(store, settings, OutboxSender(settings.outbox_dir), plan.issue_id)
    page = client.get("/archive/semanal").data.decode()
    assert plan.rendered.subject in page and "de 20" in page  # a Spanish date


def test_the_archive_has_an_rss_feed_of_sent_issues_only(client, store, settings, sent):
    from xml.etree import ElementTree as ET

    Ledger(store).create("weekly-planned-2", "weekly", {"subject": "Not out yet"}, sent.rendered.to_json())
    r = client.get("/archive/weekly/feed.xml")
    assert r.status_code == 200 and r.mimetype == "application/rss+xml"
    channel = ET.fromstring(r.data).find("channel")
    assert channel.findtext("title") == "The Weekly Planet" and channel.findtext("language") == "en"
    items = channel.findall("item")
    assert [i.findtext("title") for i in items] == [sent.rendered.subject]  # the planned one is not out
    link = f"https://digest.example/archive/weekly/{sent.issue_id}"
    assert items[0].findtext("link") == link and items[0].findtext("guid") == link
    description = lxml_html.fragment_fromstring(items[0].findtext("description"), create_parent="div")
    assert [h.text_content() for h in description.iter("h3")][:3] == ["Climate", "Markets", "Space"]
    assert not description.xpath("//script") and "reader0@example.com" not in r.data.decode()
    assert client.get("/archive/nolist/feed.xml").status_code == 404
    index = lxml_html.document_fromstring(client.get("/archive/weekly").data)
    assert "/archive/weekly/feed.xml" in {a.get("href") for a in index.iter("a")}


def test_a_hostile_subject_is_escaped_in_the_feed(client, store, sent):
    from xml.etree import ElementTree as ET

    ledger = Ledger(store)
    ledger.create("weekly-x-1", "weekly", {"subject": "</title><script>alert(1)</script>&", "status": "done"},
                  sent.rendered.to_json())
    items = ET.fromstring(client.get("/archive/weekly/feed.xml").data).find("channel").findall("item")
    assert "</title><script>alert(1)</script>&" in [i.findtext("title") for i in items]


# -- kept once per change: anyone may ask, as often as they like ---------------------------

def count_parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times a stored issue is parsed (RenderedIssue.from_json), the feed's costly step."""
    from digest.render import RenderedIssue

    calls = [0]
    parse = RenderedIssue.from_json.__func__  # type: ignore[attr-defined]

    def counted(cls, raw):  # type: ignore[no-untyped-def]
        calls[0] += 1
        return parse(cls, raw)
    monkeypatch.setattr(RenderedIssue, "from_json", classmethod(counted))
    return calls


@contextmanager
def issue_commands(store: Store) -> Iterator[list[str]]:
    """The commands touching any issue's keys while the block runs, as Redis saw them (MONITOR):
    what was read, whatever code read it."""
    seen: list[str] = []
    sentinel = store.key("monitor", uuid.uuid4().hex)
    with store.r.monitor() as monitor:
        yield seen
        store.r.get(sentinel)
        for command in monitor.listen():
            if sentinel in command["command"]:
                break
            if command["command"].count(f"{store.prefix}:") and ":issue:" in command["command"]:
                seen.append(command["command"])


def test_the_feed_is_built_once_per_change_and_kept_for_every_process(client, store, settings, sent, monkeypatch):
    from digest.web import create_app

    parses = count_parses(monkeypatch)
    first = client.get("/archive/weekly/feed.xml")
    assert first.status_code == 200 and parses[0] == 1
    other_process = create_app(settings).test_client()  # another web worker: the same Redis, its own memory
    with issue_commands(store) as read:
        again = [client.get("/archive/weekly/feed.xml"), other_process.get("/archive/weekly/feed.xml")]
    assert parses[0] == 1 and read == []  # no issue parsed again, none of their keys read
    assert [r.data for r in again] == [first.data] * 2
    assert [r.headers["ETag"] for r in again] == [first.headers["ETag"]] * 2


def test_a_new_issue_makes_a_new_feed(client, store, settings, sent):
    from xml.etree import ElementTree as ET

    first = client.get("/archive/weekly/feed.xml")
    seed_week(store, ["space"])
    second = prepare_issue(store, settings, "weekly", again=True)
    send_inline(store, settings, OutboxSender(settings.outbox_dir), second.issue_id)
    r = client.get("/archive/weekly/feed.xml", headers={"If-None-Match": first.headers["ETag"]})
    assert r.status_code == 200 and r.headers["ETag"] != first.headers["ETag"]
    links = [i.findtext("link") for i in ET.fromstring(r.data).find("channel").findall("item")]
    assert links == [f"https://digest.example/archive/weekly/{second.issue_id}",
                     f"https://digest.example/archive/weekly/{sent.issue_id}"]


def test_a_feed_reader_that_has_the_feed_gets_304_and_nothing_is_read(client, store, sent, monkeypatch):
    first = client.get("/archive/weekly/feed.xml")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert first.headers["Cache-Control"] == "public, max-age=300"  # a proxy may keep it briefly
    parses = count_parses(monkeypatch)
    with issue_commands(store) as read:
        r = client.get("/archive/weekly/feed.xml", headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.data == b"" and read == [] and parses[0] == 0
    assert r.headers["ETag"] == etag and r.headers["Cache-Control"] == "public, max-age=300"
    for headers in ({"If-None-Match": f"W/{etag}"}, {"If-None-Match": f'"other", {etag}'},
                    {"If-Modified-Since": modified}):
        assert client.get("/archive/weekly/feed.xml", headers=headers).status_code == 304, headers
    stale = client.get("/archive/weekly/feed.xml", headers={"If-None-Match": '"other"', "If-Modified-Since": modified})
    assert stale.status_code == 200 and stale.data == first.data  # If-None-Match decides (RFC 9110)
    assert client.get("/archive/weekly").headers["Cache-Control"] == "no-store"  # the pages keep theirs
    assert client.get("/archive/nolist/feed.xml").headers["Cache-Control"] == "no-store"


def test_an_issue_withdrawn_or_a_list_renamed_changes_the_feed_and_the_pages(client, store, sent):
    from xml.etree import ElementTree as ET

    def feed() -> tuple[str, list[str], str]:
        r = client.get("/archive/weekly/feed.xml")
        channel = ET.fromstring(r.data).find("channel")
        return channel.findtext("title"), [i.findtext("title") for i in channel.findall("item")], r.headers["ETag"]

    def listed() -> list[str]:
        doc = lxml_html.document_fromstring(client.get("/archive/weekly").data)
        return [a.text_content() for a in doc.iter("a") if "/archive/weekly/weekly-" in a.get("href")]

    subject = sent.rendered.subject
    ledger = Ledger(store)
    going = {"subject": "Going out", "status": "sending"}
    ledger.create("weekly-20260101-90", "weekly", going, sent.rendered.to_json())
    assert feed()[1] == ["Going out", subject] and listed() == ["Going out", subject]
    assert ledger.pause("weekly-20260101-90", "ed@planet.example")  # an editor holds a send under way
    assert feed()[1] == [subject] and listed() == [subject]
    assert ledger.resume("weekly-20260101-90")
    assert feed()[1] == ["Going out", subject] and listed() == ["Going out", subject]
    ledger.halt(sent.issue_id, "key refused")
    assert feed()[1] == ["Going out"] and listed() == ["Going out"]
    before = feed()
    weekly = store.get_list("weekly")
    store.add_list(weekly.model_copy(update={"name": "The Monthly Planet"}))
    assert feed()[0] == "The Monthly Planet" and feed()[2] != before[2]
    store.add_list(weekly.model_copy(update={"locale": "fr"}))
    channel = ET.fromstring(client.get("/archive/weekly/feed.xml").data).find("channel")
    assert channel.findtext("language") == "fr" and channel.findtext("description") == (
        "Numéros précédents de The Weekly Planet")


# -- a page at a time -------------------------------------------------------------------------

def issues_out(store: Store, count: int, list_slug: str = "weekly") -> list[str]:
    """`count` issues of the list that went out, oldest first; their subjects are "Issue 1" on."""
    ledger = Ledger(store)
    ids = [f"{list_slug}-20260101-{100 + n}" for n in range(count)]
    for n, issue_id in enumerate(ids):
        ledger.create(issue_id, list_slug, {"subject": f"Issue {n + 1}", "status": "done"}, "{}")
    return ids


def archive_page(client, path: str):  # type: ignore[no-untyped-def]
    r = client.get(path)
    assert r.status_code == 200, (path, r.status_code)
    doc = lxml_html.document_fromstring(r.data)
    subjects = [a.text_content() for a in doc.iter("a") if "/archive/weekly/weekly-" in (a.get("href") or "")]
    rels = {a.get("rel"): a.get("href") for a in doc.iter("a") if a.get("rel")}
    return subjects, rels, doc.findtext(".//title")


def test_the_archive_is_shown_a_page_at_a_time(client, store, weekly):
    from digest.archive import PAGE_SIZE

    issues_out(store, 2 * PAGE_SIZE + 1)
    Ledger(store).create("weekly-20260101-99", "weekly", {"subject": "Halted", "status": "halted"}, "{}")
    first, rels, title = archive_page(client, "/archive/weekly")
    assert first == [f"Issue {n}" for n in range(2 * PAGE_SIZE + 1, PAGE_SIZE + 1, -1)]  # newest first
    assert rels == {"next": "/archive/weekly?page=2"} and title == "Past issues of The Weekly Planet · Page 1 of 3"
    assert archive_page(client, "/archive/weekly?page=1")[0] == first
    second, rels, title = archive_page(client, "/archive/weekly?page=2")
    assert second == [f"Issue {n}" for n in range(PAGE_SIZE + 1, 1, -1)]
    assert rels == {"prev": "/archive/weekly", "next": "/archive/weekly?page=3"} and "Page 2 of 3" in title
    last, rels, _ = archive_page(client, "/archive/weekly?page=3")
    assert last == ["Issue 1"] and rels == {"prev": "/archive/weekly?page=2"}  # the halted one is not out
    for past in ("4", "999999999", "1" + "0" * 4000):
        r = client.get(f"/archive/weekly?page={past}")
        assert r.status_code == 404 and b"there is no page" in r.data, past


def test_a_short_archive_is_one_page_with_no_page_links(client, store, weekly):
    issues_out(store, 3)
    subjects, rels, title = archive_page(client, "/archive/weekly")
    assert subjects == ["Issue 3", "Issue 2", "Issue 1"] and rels == {} and title == "Past issues of The Weekly Planet"
    empty = DigestList(slug="empty", name="Empty", from_email="n@p.example", postal_address="1 Road")
    store.add_list(empty)
    assert client.get("/archive/empty?page=1").status_code == 200  # an empty archive still has its first page
    assert client.get("/archive/empty?page=2").status_code == 404


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5", "", "02", "١", "1e3", " 1", "0x2"])
def test_a_bad_page_value_is_refused_naming_page(client, store, weekly, value):
    issues_out(store, 2)
    r = client.get("/archive/weekly", query_string={"page": value})
    assert r.status_code == 400 and b"page must be a page number" in r.data


def test_a_page_given_twice_is_refused(client, store, weekly):
    r = client.get("/archive/weekly?page=1&page=2")
    assert r.status_code == 400 and b"page is given more than once" in r.data


def test_the_index_is_read_from_the_issues_once_per_change(client, store, weekly):
    issues_out(store, 30)
    client.get("/archive/weekly?page=2")
    with issue_commands(store) as read:
        for path in ("/archive/weekly", "/archive/weekly?page=2"):
            assert client.get(path).status_code == 200
    assert read == []  # neither page read an issue: the index is kept
    issues_out(store, 1, "weekly")  # a new issue (the same ids, made again): the index is read afresh
    with issue_commands(store) as read:
        client.get("/archive/weekly")
    assert read


@pytest.mark.parametrize("locale, page_of, older, newer", [
    ("es", "Página 2 de 2", "Números más antiguos", "Números más recientes"),
    ("fr", "Page 2 sur 2", "Numéros plus anciens", "Numéros plus récents"),
    ("de", "Seite 2 von 2", "Ältere Ausgaben", "Neuere Ausgaben"),
])
def test_the_pages_speak_the_lists_language(client, store, weekly, locale, page_of, older, newer):
    from digest.archive import PAGE_SIZE

    store.add_list(weekly.model_copy(update={"locale": locale}))
    issues_out(store, PAGE_SIZE + 1)
    first = client.get("/archive/weekly").data.decode()
    assert older in first and newer not in first
    second = client.get("/archive/weekly?page=2").data.decode()
    assert page_of in second and newer in second and older not in second
    nav = lxml_html.document_fromstring(second).find(".//nav")
    assert nav is not None and nav.get("aria-label") not in ("", "Pages of the archive")


def test_the_feeds_tag_is_the_codes_not_its_install_time():
    """Web machines installed apart must name the same kept feed and send the same ETag."""
    import importlib
    import os

    import digest.archive as archive

    before, st = archive._CODE_STAMP, os.stat(archive.__file__)
    os.utime(archive.__file__, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # as another machine's copy
    try:
        assert importlib.reload(archive)._CODE_STAMP == before
    finally:
        os.utime(archive.__file__, ns=(st.st_atime_ns, st.st_mtime_ns))
        importlib.reload(archive)
