"""The public archive: sent issues as they went out, for no reader; "view in browser" lands here."""

from __future__ import annotations

import pytest
from lxml import html as lxml_html

from digest.deliver.ledger import Ledger
from digest.deliver.outbox import OutboxSender
from digest.deliver.send import prepare_issue, send_inline
from digest.links import make_token, preview_token
from digest.models import DigestList, Subscriber, Topic
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
