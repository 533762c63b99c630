"""Newsletters as a source: real newsletter HTML posted the way SendGrid's Inbound Parse posts it,
through the real Flask app, into articles of a newsletter feed.

The newsletters in tests/newsletters/ are built like the real ones: a table-layout
daily briefing (hidden preheader, "View in browser", a sponsor block, share and
social links, an unsubscribe footer, a tracking pixel), a one-post essay (title,
subtitle, byline, comment and share buttons), and a link digest of bold titles
with a line each.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
from pydantic import SecretStr

from digest.collect.collector import collect_all
from digest.collect.newsletter import newsletter_entries, sponsored, story_link
from digest.models import Article, Feed
from digest.web import create_app
from tests.workers import worker_env

HERE = Path(__file__).parent / "newsletters"
SECRET = "newsletter-secret-for-the-test-0123456789"
PATH = f"/webhooks/newsletters/{SECRET}"
DROPPED = ("unsubscribe", "preferences", "view-online", "logo-", "twitter.com", "facebook.com", "linkedin.com",
           "instagram.com", "refer", "advertise", "privacy", "acme.example", "/open", "sponsor", "disable_email",
           "comments", "signup", "subscribe", "@ann")


def newsletter(name: str) -> str:
    return (HERE / name).read_text(encoding="utf-8")


def multipart(fields: dict[str, str | bytes]) -> tuple[bytes, str]:
    """A multipart/form-data body as SendGrid sends it: one part per field, no charset of its own."""
    boundary = f"xYzZY{uuid.uuid4().hex}"
    parts = []
    for name, value in fields.items():
        data = value.encode("utf-8") if isinstance(value, str) else value
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def mail(html: str | bytes = "", *, sender: str = "The Morning Briefing <news@briefing.example>",
         to: str = "news+briefing@news.planet.example", subject: str = "Tuesday: rockets and rates",
         dkim: str | None = None, spf: str = "pass", text: str = "", charsets: dict[str, str] | None = None,
         envelope_from: str | None = None) -> dict[str, str | bytes]:
    address = sender.split("<")[-1].rstrip(">")
    domain = address.rpartition("@")[2]
    return {
        "headers": f"Received: by mx.sendgrid.net\nFrom: {sender}\nTo: {to}\nSubject: {subject}\n",
        "dkim": f"{{@{domain} : pass}}" if dkim is None else dkim,
        "to": to, "from": sender, "subject": subject, "html": html, "text": text,
        "sender_ip": "192.0.2.10", "SPF": spf,
        "envelope": json.dumps({"to": [to.split("<")[-1].rstrip(">")], "from": envelope_from or address}),
        "charsets": json.dumps(charsets or {"to": "UTF-8", "html": "UTF-8", "subject": "UTF-8", "from": "UTF-8",
                                            "text": "UTF-8"}),
        "spam_score": "0.1", "attachments": "0",
    }


@pytest.fixture
def hooks(settings):
    return settings.model_copy(update={"newsletter_inbound_secret": SecretStr(SECRET),
                                       "newsletter_inbound_domain": "news.planet.example"})


@pytest.fixture
def client(hooks, store):
    app = create_app(hooks)
    app.testing = True
    return app.test_client()


@pytest.fixture
def briefing(store) -> Feed:
    feed = Feed(id="briefing", kind="newsletter", name="The Morning Briefing", senders=["news@briefing.example"])
    store.add_feed(feed)
    return feed


def post(client, fields, path: str = PATH):  # type: ignore[no-untyped-def]
    body, content_type = multipart(fields)
    return client.post(path, data=body, content_type=content_type)


def articles(store, feed_id: str) -> list[Article]:
    found = store.articles_between(datetime(1970, 1, 2, tzinfo=timezone.utc), datetime(2100, 1, 1, tzinfo=timezone.utc))
    return sorted((a for a in found if a.feed_id == feed_id), key=lambda a: a.title)


def test_a_briefing_becomes_one_article_per_story_and_nothing_else(client, store, briefing):
    r = post(client, mail(newsletter("briefing.html")))
    assert r.status_code == 200 and r.text.startswith("briefing: 5 new, 0 duplicates from news@briefing.example")
    got = articles(store, "briefing")
    assert [(a.title, a.url) for a in got] == [
        ("Central bank holds rates steady", "https://click.briefing.example/ls/click?upn=rates-9c2d"),
        ("Oil slips as stocks build", "https://markets.example/oil-slips"),
        ("Rocket reaches orbit on its first try", "https://news.example/2026/11/rocket-orbit"),  # utm_* gone
        ("Storm floods coastal towns", "https://weather.example/storms/coast-floods"),
        ("Wild bees return to city parks", "https://science.example/bees-return"),
    ]
    rocket = got[2]
    assert rocket.summary_text == ("The startup's reusable launcher put a weather satellite into a polar orbit on "
                                   "Monday, the first time a new company has done so on a maiden flight. Engineers "
                                   "said the booster landed on a barge 600 km downrange.")
    assert rocket.image == "https://cdn.news.example/rocket.jpg" and rocket.source == "The Morning Briefing"
    assert got[3].summary_text == "Three villages were evacuated overnight as the river burst its banks."
    assert got[0].summary_text.endswith("citing sticky services inflation.")  # "Read the full story" gone
    for article in got:
        everything = f"{article.url} {article.summary_html} {article.image} {article.title}".lower()
        assert not any(word in everything for word in DROPPED), article
        assert "today: a rocket" not in everything  # the hidden preheader
    state = store.feed_state("briefing")
    assert state.articles_total == 5 and state.last_ok_at is not None


def test_the_same_newsletter_twice_is_duplicates(client, store, briefing):
    post(client, mail(newsletter("briefing.html")))
    r = post(client, mail(newsletter("briefing.html"), subject="Tuesday (resent)"))
    assert "briefing: 0 new, 5 duplicates" in r.text and len(articles(store, "briefing")) == 5


def test_a_one_post_essay_is_one_article(client, store):
    store.add_feed(Feed(id="slow-web", kind="newsletter", senders=["@writer.example"]))
    r = post(client, mail(newsletter("essay.html"), sender="Ann Writer <ann@writer.example>",
                          to="slow-web@news.planet.example"))
    assert "slow-web: 1 new" in r.text
    (essay,) = articles(store, "slow-web")
    assert (essay.title, essay.url, essay.source) == ("The slow web", "https://writer.example/p/the-slow-web",
                                                      "Ann Writer")
    assert essay.summary_text.startswith("Why fewer, better links beat the firehose Every morning I open forty tabs")
    assert "Nov 24" not in essay.summary_text and "Unsubscribe" not in essay.summary_text


def test_a_link_digest_keeps_its_stories_and_drops_its_sponsor(client, store):
    store.add_feed(Feed(id="links", kind="newsletter", name="Links Daily", senders=["@links.example"]))
    r = post(client, mail(newsletter("links.html"), sender="Links Daily <dan@links.example>",
                          to="Links Daily <news+links@news.planet.example>"))
    assert "links: 3 new" in r.text
    assert [(a.title, a.url) for a in articles(store, "links")] == [
        ("Rust compiler rewrite lands in nightly (4 minute read)", "https://tech.example/posts/compiler-rewrite"),
        ("Sparse attention, explained (12 minute read)", "https://research.example/papers/sparse-attention"),
        ("The Fold 7 review: finally a hinge you forget (8 minute read)", "https://phones.example/review/fold-7"),
    ]


FORWARDED = """<div dir="ltr">Worth a look for Monday's issue.<br><br><div class="gmail_quote">
<div dir="ltr" class="gmail_attr">---------- Forwarded message ---------<br>From: <strong class="gmail_sendername"
dir="auto">Harbor Notes</strong> <span dir="auto">&lt;<a href="mailto:hello@harbor.example">hello@harbor.example</a>&gt;
</span><br>Date: Mon, 23 Nov 2026 at 07:01<br>Subject: Ships, ports and a new canal<br>To: &lt;<a
href="mailto:editor@planet.example">editor@planet.example</a>&gt;<br></div><br><br>
<div><h2><a href="https://harbor.example/2026/canal-opens">The new canal opens to cargo ships</a></h2>
<p>The first container ship passed the locks on Sunday, cutting four days off the route.</p>
<p style="font-size:12px"><a href="https://harbor.example/unsubscribe/xyz">Unsubscribe</a> ·
<a href="https://harbor.example/web/2026-11-23">View in your browser</a></p></div></div></div>"""


def test_a_newsletter_forwarded_by_its_editor_is_read_and_its_forward_header_is_not(client, store):
    store.add_feed(Feed(id="harbor", kind="newsletter", senders=["editor@planet.example"]))
    r = post(client, mail(FORWARDED, sender="Eve Editor <editor@planet.example>", to="news+harbor@news.planet.example",
                          subject="Fwd: Ships, ports and a new canal"))
    assert "harbor: 1 new" in r.text
    assert [(a.title, a.url, a.summary_text) for a in articles(store, "harbor")] == [
        ("The new canal opens to cargo ships", "https://harbor.example/2026/canal-opens",
         "The first container ship passed the locks on Sunday, cutting four days off the route.")]


def test_a_latin1_newsletter_is_decoded_by_the_charset_sendgrid_names(client, store):
    store.add_feed(Feed(id="lettre", kind="newsletter", senders=["@lettre.example"]))
    html = ("<h2><a href='https://lettre.example/eco/taux'>La banque centrale maintient ses taux</a></h2>"
            "<p>Les marchés réagissent à peine ; l’inflation reste élevée à 3,1 %.</p>").encode("windows-1252")
    fields = mail(html, sender="La Lettre <info@lettre.example>", to="news+lettre@news.planet.example",
                  charsets={"html": "iso-8859-1", "subject": "UTF-8", "from": "UTF-8", "to": "UTF-8", "text": "UTF-8"})
    assert "lettre: 1 new" in post(client, fields).text
    (article,) = articles(store, "lettre")
    assert article.summary_text == "Les marchés réagissent à peine ; l’inflation reste élevée à 3,1 %."


TEXT_ONLY = """Hi all,

This week's three links:

Solar now cheapest in 40 countries
https://energy.example/solar-cheapest?utm_source=plain
A new survey of power prices puts new solar below coal almost everywhere.

Why cities are painting roofs white
https://cities.example/white-roofs

--
You are receiving this because you subscribed. Unsubscribe: https://plain.example/unsubscribe?id=9
"""


def test_a_text_only_newsletter_makes_one_story_per_linked_paragraph(client, store):
    store.add_feed(Feed(id="plain", kind="newsletter", senders=["@plain.example"]))
    assert "plain: 2 new" in post(client, mail(text=TEXT_ONLY, sender="p@plain.example",
                                              to="news+plain@news.planet.example")).text
    assert [(a.title, a.url, a.summary_text) for a in articles(store, "plain")] == [
        ("Solar now cheapest in 40 countries", "https://energy.example/solar-cheapest",
         "A new survey of power prices puts new solar below coal almost everywhere."),
        ("Why cities are painting roofs white", "https://cities.example/white-roofs", ""),
    ]


@pytest.mark.parametrize("change,why", [
    ({"sender": "Impostor <news@evil.example>"}, "does not take mail from news@evil.example"),
    ({"dkim": "{@briefing.example : fail}", "spf": "fail"}, "not authenticated"),
    ({"dkim": "", "spf": "pass", "envelope_from": "bounce@other.example"}, "not authenticated"),
    ({"to": "news+nosuchfeed@news.planet.example"}, "no newsletter feed among the recipients"),
    ({"to": "news+planet@news.planet.example"}, "no newsletter feed among the recipients"),  # a regular feed
])
def test_mail_that_is_not_for_a_newsletter_from_its_senders_makes_nothing(client, store, briefing, change, why):
    store.add_feed(Feed(id="planet", url="https://planet.example/feed.xml"))
    r = post(client, mail(newsletter("briefing.html"), **change))
    assert r.status_code == 200 and why in r.text  # 200: SendGrid would retry anything else for days
    assert articles(store, "briefing") == [] and articles(store, "planet") == []


def test_a_newsletter_without_registered_senders_takes_no_mail(client, store):
    store.add_feed(Feed(id="open", kind="newsletter"))
    r = post(client, mail(newsletter("briefing.html"), to="news+open@news.planet.example"))
    assert "ignored for open: the newsletter has no registered senders" in r.text
    assert articles(store, "open") == []


def test_hostile_html_in_a_newsletter_is_cleaned_like_any_feed(client, store, briefing):
    html = ("<h2><a href='https://ok.example/story'>A story <script>alert(1)</script></a></h2>"
            "<p onclick='steal()'>Text with <img src=x onerror=alert(1)> and <a href='javascript:alert(1)'>js</a>.</p>"
            "<h2><a href='javascript:alert(2)'>Script link story</a></h2><p>Never a link.</p>"
            "<h2><a href='data:text/html,hi'>Data link story</a></h2><p>Never a link either.</p>")
    assert "briefing: 1 new" in post(client, mail(html)).text
    (article,) = articles(store, "briefing")
    assert article.url == "https://ok.example/story" and article.title == "A story"
    assert "script" not in article.summary_html and "onclick" not in article.summary_html
    assert "javascript" not in article.summary_html and article.summary_text == "Text with and js."


def test_the_endpoint_is_404_without_its_secret(settings, store, hooks, briefing):
    unset = create_app(settings).test_client()
    assert post(unset, mail(newsletter("briefing.html"))).status_code == 404
    app = create_app(hooks).test_client()
    for path in ["/webhooks/newsletters/wrong-secret-of-some-length", f"/webhooks/newsletters/{SECRET[:-1]}",
                 f"/webhooks/newsletters/{SECRET}x", "/webhooks/newsletters/"]:
        assert post(app, mail(newsletter("briefing.html")), path).status_code == 404
    assert articles(store, "briefing") == []


def test_an_oversized_post_is_answered_and_dropped(client, store, briefing):
    r = post(client, mail(newsletter("briefing.html") + "<!--" + "x" * (21 * 1024 * 1024) + "-->"))
    assert r.status_code == 200 and "ignored: over the" in r.text and articles(store, "briefing") == []


def test_no_article_page_is_fetched_while_sendgrid_waits(client, store, server):
    store.add_feed(Feed(id="teasers", kind="newsletter", senders=["@briefing.example"], full_text="always"))
    story = server.route("/story", "<html><body><article><p>" + "Long text. " * 300 + "</p></article></body></html>",
                         headers={"Content-Type": "text/html"})
    html = f"<h2><a href='{story}'>A teaser story</a></h2><p>Only one line of text.</p>"
    assert "teasers: 1 new" in post(client, mail(html, to="news+teasers@news.planet.example")).text
    assert server.requests == [] and articles(store, "teasers")[0].summary_text == "Only one line of text."


def test_the_collector_never_fetches_a_newsletter(store, settings, briefing):
    assert collect_all(store, settings, force=True) == []
    assert store.feed_state("briefing").error is None


def test_entries_are_capped_and_one_per_page():
    items = "".join(f"<li><a href='https://many.example/{i % 150}'>Story number {i}</a> words</li>" for i in range(400))
    entries = newsletter_entries(f"<ul>{items}</ul>", "")
    assert len(entries) == 100 and len({e.link for e in entries}) == 100


@pytest.mark.parametrize("url,words,story", [
    ("https://twitter.com/nasa/status/123", "NASA on the launch", True),  # a post is a story
    ("https://youtube.com/watch?v=abc", "Watch the launch", True),
    ("https://www.instagram.com/p/abc/", "The photo of the week", True),
    ("https://twitter.com/nasa", "NASA", False),  # a profile
    ("https://www.linkedin.com/company/briefing", "The Briefing", False),
    ("https://twitter.com/intent/tweet?text=x", "Spread the word", False),
    ("https://news.example/share-prices-rise", "Shares of Acme rise", True),  # not "Share this"
    ("https://news.example/a", "Share this story", False),
    ("https://news.example/a", "Unsubscribe", False),
    ("https://esp.example/u/opt-out?x=1", "Stop these emails", False),
    ("https://news.example/author/ann", "Ann Writer", False),
    ("https://news.example/2026/11/story", "Follow the money: where the aid went", True),
])
def test_which_links_can_be_stories(url, words, story):
    assert story_link(url, words) is story


@pytest.mark.parametrize("text,is_ad", [
    ("SPONSORED", True), ("Together with Acme", True), ("Presented by Acme Cloud", True),
    ("Sponsored: a very long line from an advertiser about its cloud, its pricing and its free trial", True),
    ("Together with Europe, NASA plans a lunar station to be built over the next decade", False),
    ("The sponsor of the bill withdrew it", False),
])
def test_what_counts_as_an_advertisement(text, is_ad):
    assert sponsored(text) is is_ad


# -- the command line ---------------------------------------------------------------------------


def test_add_newsletter_from_the_command_line(settings, store):
    env = worker_env(settings, NEWSLETTER_INBOUND_DOMAIN="news.planet.example")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", "from digest.cli import main; main()", *args],
                              env=env, capture_output=True, text=True, timeout=60)

    r = run("feeds", "add-newsletter", "briefing", "--name", "The Morning Briefing",
            "--sender", "news@briefing.example, @mail.briefing.example")
    assert r.returncode == 0, r.stderr
    assert "subscribe news+briefing@news.planet.example" in r.stdout
    assert "NEWSLETTER_INBOUND_SECRET is not set" in r.stderr
    assert store.get_feed("briefing").senders == ["news@briefing.example", "@mail.briefing.example"]
    assert "briefing\tnewsletter news+briefing@news.planet.example\tlast ok never\tok" in run("feeds", "ls").stdout
    store.add_feed(Feed(id="planet", url="https://planet.example/feed.xml"))
    r = run("feeds", "add-newsletter", "planet", "--sender", "a@b.example")
    assert r.returncode == 1 and "already a feed" in r.stderr
    r = run("feeds", "add-newsletter", "bad", "--sender", "not an address")
    assert r.returncode == 1 and "is not an address or @domain" in r.stderr
