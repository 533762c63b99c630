"""Hostile feeds and hostile names, through the real path, into every message that goes out.

A feed publisher plants the per-reader placeholders (the ones digest used to use,
and guesses at the current ones) in image URLs, links, media:content, a JSON Feed
image and the headline; subscribers' names try to break out of the greeting. The
feeds come from a loopback server through the real collector; the issue goes out
through the outbox and through the real sendgrid client to the schema-checking
stand-in. Every message is parsed as HTML: each URL and attribute is checked, not
a substring of the page.
"""

from __future__ import annotations

import email
import json
from email.policy import default as default_policy

import pytest
from lxml import html as lxml_html

from digest.collect.collector import collect_feed
from digest.deliver.outbox import OutboxSender
from digest.deliver.send import prepare_issue, send_inline
from digest.deliver.sendgrid import SendGridSender
from digest.links import make_token
from digest.models import Feed, Subscriber
from tests.feedserver import FeedServer
from tests.sendgrid_server import SendGridStub

OLD = "-reader_token-"  # the fixed placeholder digest used before
GUESS = "-t000000000000000000000000-"  # the shape of today's, with a guessed value
NOW = "{{NOW}}"

RSS = f"""<?xml version="1.0"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>Trap</title>
<item><title>Moon lander lands {OLD} -greeting- {GUESS}</title>
<link>https://feed.example/a?t={OLD}</link><guid>trap-1</guid><pubDate>{NOW}</pubDate>
<media:content url="https://feed.example/m.jpg?t={OLD}" medium="image"/>
<description><![CDATA[<p>Read <a href="https://feed.example/r?t={OLD}&amp;g={GUESS}">this</a>.</p>
<img src="https://feed.example/p.gif?t={OLD}" width="300" height="200" alt="{OLD}">]]></description></item>
<item><title>Second story</title><link>https://feed.example/b</link><guid>trap-2</guid><pubDate>{NOW}</pubDate>
<description><![CDATA[<img src="https://feed.example/q.gif?t={GUESS}" width="300">text {OLD}]]></description>
</item></channel></rss>"""

JSON_FEED = json.dumps({
    "version": "https://jsonfeed.org/version/1.1", "title": "Trap JSON",
    "items": [{"id": "j1", "url": f"https://json.example/x?t={OLD}", "title": f"JSON lander {OLD}",
               "content_text": f"body {OLD}", "image": f"https://json.example/i.png?t={OLD}",
               "date_published": NOW}],
})

NAMES = {
    "alice@example.com": "Alice",
    "quote@example.com": 'Q" onerror="alert(77)" x="',
    "tag@example.com": "<img src=x onerror=alert(1)>",
    "amp@example.com": "Tom & Jerry's",
    "comma@example.com": "Smith, John <mallory@evil.example>; x@evil.example",
}


@pytest.fixture
def hostile_issue(store, settings, weekly):
    from datetime import datetime, timezone
    from email.utils import format_datetime

    now = datetime.now(timezone.utc)
    server = FeedServer()
    try:
        store.add_feed(Feed(id="trap", url=server.route("/rss", RSS.replace(NOW, format_datetime(now)),
                                                        headers={"Content-Type": "application/rss+xml"})))
        store.add_feed(Feed(id="trapjson", url=server.route("/json", JSON_FEED.replace(NOW, now.isoformat()),
                                                            headers={"Content-Type": "application/feed+json"})))
        for feed_id in ("trap", "trapjson"):
            result = collect_feed(store, settings, feed_id)
            assert result.error is None and result.new >= 1, result
    finally:
        server.close()
    for address, name in NAMES.items():
        store.add_subscriber("weekly", Subscriber(email=address, name=name))
    return prepare_issue(store, settings, "weekly")


def check_message(settings, markers, address: str, subject: str, html: str, text: str) -> None:
    """What one reader receives: their own token only in digest's own links, nobody else's data."""
    own = make_token(settings, "weekly", address)
    others = [make_token(settings, "weekly", a) for a in NAMES if a != address]
    whole = "\n".join([subject, html, text])
    for other_address, token in zip([a for a in NAMES if a != address], others, strict=True):
        assert token not in whole and other_address not in whole
    assert own not in subject
    for marker in (markers.token, markers.greeting_html, markers.greeting_text):
        assert marker not in whole, "a placeholder was left unfilled"

    doc = lxml_html.document_fromstring(html)
    own_links = 0
    for element in doc.iter():
        if not isinstance(element.tag, str):
            continue
        assert element.tag not in ("script", "iframe", "object", "embed", "form")
        for attr, value in element.attrib.items():
            assert not attr.lower().startswith("on"), f"<{element.tag} {attr}={value!r}>"
            assert "javascript:" not in value.lower()
            if own in value:
                assert element.tag == "a" and attr == "href", f"{address}'s token in <{element.tag} {attr}>"
                assert value in (f"{settings.base_url}/u/{own}", f"{settings.base_url}/p/{own}")
                own_links += 1
    assert own_links == 2  # unsubscribe and preferences, where the template put them
    assert own not in "".join(doc.itertext())  # never shown as text, and never in an image URL
    for img in doc.iter("img"):
        assert own not in img.get("src", "")
    greeting = doc.find_class("greeting")[0].text_content().strip()
    assert greeting == f"Hello {NAMES[address]}, here is your week."  # the name as typed, as text
    assert f"Hello {NAMES[address]}, here is your week." in text  # the text part: the name unescaped
    assert text.count(own) == 2 and text.count(f"{settings.base_url}/u/{own}") == 1


def test_hostile_feeds_and_names_reach_no_other_reader_through_the_outbox(settings, store, hostile_issue):
    plan = hostile_issue
    assert send_inline(store, settings, OutboxSender(settings.outbox_dir), plan.issue_id) == {"accepted": 1}
    files = sorted((settings.outbox_dir / plan.issue_id).glob("*.eml"))
    assert len(files) == len(NAMES)
    for path in files:
        msg = email.message_from_bytes(path.read_bytes(), policy=default_policy)
        address = msg["To"].addresses[0].addr_spec
        html = msg.get_body(("html",)).get_content()
        text = msg.get_body(("plain",)).get_content()
        assert "Moon lander lands" in html and OLD in html  # the feed's text arrives, inert
        check_message(settings, plan.rendered.markers, address, str(msg["Subject"]), html, text)


def test_hostile_feeds_and_names_reach_no_other_reader_through_sendgrid(settings, store, hostile_issue):
    plan = hostile_issue
    with SendGridStub() as stub:
        sender = SendGridSender("SG.test-key", host=stub.url, timeout=5)
        assert send_inline(store, settings, sender, plan.issue_id) == {"accepted": 1}
    assert stub.invalid == [] and len(stub.requests) == 1
    body = stub.requests[0]
    for p in body["personalizations"]:
        # What SendGrid does with substitutions: replace each key everywhere in the message.
        def fill(value: str, subs: dict[str, str] = p["substitutions"]) -> str:
            for key, replacement in subs.items():
                value = value.replace(key, replacement)
            return value
        subject = fill(body["subject"])
        text, html = (fill(part["value"]) for part in body["content"])
        check_message(settings, plan.rendered.markers, p["to"][0]["email"], subject, html, text)


def test_a_name_with_address_syntax_stays_out_of_the_sendgrid_to(settings, store, hostile_issue):
    """SendGrid puts to.name into To: unquoted, where "Smith, John" has been read as a second
    address: a name holding address syntax is left out of To:, the greeting still has it."""
    with SendGridStub() as stub:
        sender = SendGridSender("SG.test-key", host=stub.url, timeout=5)
        assert send_inline(store, settings, sender, hostile_issue.issue_id) == {"accepted": 1}
    to = {p["to"][0]["email"]: p["to"][0] for p in stub.requests[0]["personalizations"]}
    assert to["alice@example.com"] == {"email": "alice@example.com", "name": "Alice"}
    assert to["amp@example.com"] == {"email": "amp@example.com", "name": "Tom & Jerry's"}
    for address in ("comma@example.com", "quote@example.com", "tag@example.com"):
        assert to[address] == {"email": address}, to[address]


def test_a_lists_name_stays_one_header_line_and_a_phrase():
    """The list's name goes into List-Id and From: a line break in it would have written a
    header of its own (Bcc:) into every message; "<" or "," would have read as an address."""
    from digest.deliver.send import list_id_header
    from digest.models import DigestList

    smuggled = DigestList(slug="weekly", name="Weekly\r\nBcc: all@evil.example", from_email="news@example.com",
                          from_name="Acme\nBcc: x@evil.example")
    assert "\n" not in smuggled.name + smuggled.from_name and "\r" not in smuggled.name
    assert list_id_header(smuggled) == '"Weekly Bcc: all@evil.example" <weekly.example.com>'
    odd = DigestList(slug="weekly", name='Ann "the" <Editor>, \\ Co', from_email="news@example.com")
    header = list_id_header(odd)
    assert header == '"Ann \\"the\\" <Editor>, \\\\ Co" <weekly.example.com>'
    assert email.message_from_string(f"List-Id: {header}\n\n", policy=default_policy)["List-Id"] == header
    plain = DigestList(slug="weekly", name="The Weekly Planet", from_email="news@example.com")
    assert list_id_header(plain) == "The Weekly Planet <weekly.example.com>"
