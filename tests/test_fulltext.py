"""Full text for teaser-only feeds, and page chrome that never reaches an email.

The article pages in tests/pages/ have the structure of real templates: a
WordPress theme with Jetpack sharing, likes and related posts, a comment form,
widgets, a cookie notice and the AMP plugin's footer (English); a news site
with a consent pop-up, a share bar, an inline "Lire aussi", a newsletter box
and "most read" lists (French); a Spanish WordPress blog served in ISO-8859-1,
its charset only in a <meta>.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from email.utils import format_datetime
from html import escape
from pathlib import Path

import pytest
from lxml import html as lxml_html

from digest.collect.clean import excerpt, html_to_text, sanitize_html
from digest.collect.collector import collect_feed
from digest.collect.fetch import make_client
from digest.collect.fulltext import ExtractError, add_full_text, extract_page, is_teaser, read_page
from digest.collect.parse import RawEntry, parse_feed
from digest.errors import DigestError
from digest.issue import next_issue
from digest.models import Article, Feed
from digest.ops.queues import COLLECT_PROCESSING_SECONDS, collect_time_limits
from digest.store import Store
from tests.factories import file_as
from tests.feedserver import FeedServer

PAGES = Path(__file__).parent / "pages"
GLACIERS = "/2026/11/glaciers-record-loss/"
OCEANS = "/planete/article/2026/11/18/oceans-chaleur-record_6201.html"
TEIDE = "/2026/11/teide-espectrografo/"
GLACIERS_FIRST_SENTENCE = ("Swiss glaciers lost four percent of their remaining volume this summer, the second largest "
                           "loss since measurements began more than a century ago.")
# What the pages wrap around their articles: none of it may reach an email.
CHROME = {
    "en": ["Skip to content", "Share this", "Click to share", "Twitter", "Facebook", "Like this", "Loading",
           "Related", "Heatwave pushes", "Previous post", "Next post", "Leave a comment", "Post Comment",
           "Recent Posts", "Subscribe to our newsletter", "Sign up", "Proudly powered", "Exit mobile version",
           "Site icon", "We use cookies", "Privacy policy", "Menu", "Continue reading", "appeared first on",
           "Categorized as", "View all of"],
    "fr": ["Aller au contenu", "Actualités", "S'abonner", "Partager", "Envoyer par e-mail", "Lire aussi",
           "Le blanchissement des coraux", "Newsletter", "Inscrivez-vous", "Sur le même sujet",
           "Les glaciers alpins", "Les plus lus", "Le budget adopté", "Accepter", "Refuser", "cookies",
           "Mentions légales", "Tous droits réservés", "LinkedIn"],
    "es": ["Saltar al contenido", "Icono del sitio", "Inicio", "Observación", "Compartir", "Relacionado",
           "Todo lo que hay que saber", "Entradas relacionadas", "Marte, en oposición", "Entrada anterior",
           "Funciona con WordPress", "Salir de la versión móvil", "cookies", "Aceptar", "Leer más"],
}


def page(name: str) -> bytes:
    return (PAGES / name).read_bytes()


def rss(*items: dict[str, str]) -> str:
    """A feed of `items` (title, link, description, days: how many days old)."""
    now = datetime.now(timezone.utc)
    body = "".join(
        f"<item><title>{escape(i['title'])}</title><link>{escape(i['link'])}</link><guid>{escape(i['link'])}</guid>"
        f"<pubDate>{format_datetime(now.replace(microsecond=0) - _days(i.get('days', '1')))}</pubDate>"
        f"<description>{escape(i['description'])}</description></item>"
        for i in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>{body}</channel></rss>'


def _days(days: str):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    return timedelta(days=float(days))


def articles(store: Store) -> dict[str, Article]:
    """The collected articles by URL path."""
    found = store.articles_between(datetime(2000, 1, 1, tzinfo=timezone.utc), datetime(2100, 1, 1, tzinfo=timezone.utc))
    return {re.sub(r"^https?://[^/]+", "", a.url): a for a in found}


def add(store: Store, feed_id: str, url: str, mode: str = "auto") -> Feed:
    feed = Feed(id=feed_id, url=url, full_text=mode)  # type: ignore[arg-type]
    store.add_feed(feed)
    return feed


def page_requests(server: FeedServer, *paths: str) -> list[str]:
    return [p for p, _ in server.requests if p in paths]


def teasers(server: FeedServer) -> str:
    """Three teasers as WordPress, a news site and a Spanish blog write them, linking to their pages."""
    return rss(
        {"title": "Alpine glaciers lost a record share of their ice this summer", "link": server.url(GLACIERS),
         "days": "1",
         "description": (
             "<p>Swiss glaciers lost four percent of their remaining volume this summer, the second largest loss "
             f'since measurements began&#8230; <a href="{server.url(GLACIERS)}" class="more-link">Continue reading '
             '<span class="screen-reader-text">Alpine glaciers lost a record share</span> &#8594;</a></p>'
             f'<p>The post <a href="{server.url(GLACIERS)}">Alpine glaciers lost a record share of their ice this '
             f'summer</a> appeared first on <a href="{server.url("/")}">Planet Wire</a>.</p>')},
        {"title": "Les océans n'ont jamais stocké autant de chaleur", "link": server.url(OCEANS), "days": "2",
         "description": "Le contenu thermique des océans a battu un nouveau record en 2026 [&#8230;]"},
        {"title": "El telescopio del Teide capta la primera luz de su nuevo espectrógrafo", "link": server.url(TEIDE),
         "days": "3",
         "description": "<p>El nuevo espectrógrafo del Observatorio del Teide ha obtenido esta semana su primera "
                        "luz&#8230;</p><p><a href=\"" + server.url(TEIDE) + "\">Leer más</a></p>"},
    )


@pytest.fixture
def site(server: FeedServer) -> FeedServer:
    """The loopback server with the three article pages."""
    server.route(GLACIERS, page("wordpress-glaciers.html"), headers={"Content-Type": "text/html; charset=UTF-8"})
    server.route(OCEANS, page("news-oceans-fr.html"), headers={"Content-Type": "text/html; charset=utf-8"})
    server.route(TEIDE, page("blog-telescopio-es.html"), headers={"Content-Type": "text/html"})  # charset in <meta>
    return server


def links_and_images(html: str) -> tuple[list[str], list[str]]:
    root = lxml_html.fragment_fromstring(html, create_parent="div") if html else None
    if root is None:
        return [], []
    hrefs = [a.get("href") for a in root.iter("a") if a.get("href") is not None]
    return hrefs, [i.get("src") for i in root.iter("img")]


def assert_email_safe(html: str) -> None:
    """Every link absolute http(s) or mailto, every image absolute http(s)."""
    hrefs, srcs = links_and_images(html)
    for href in hrefs:
        assert re.match(r"^(https?://[^/\s]+|mailto:.)", href), href
    for src in srcs:
        assert re.match(r"^https?://[^/\s]+", src), src


# -- the teaser-only feed ------------------------------------------------------------------


def test_a_teaser_only_feed_gets_each_pages_main_text_image_author_and_language_without_chrome(store, settings, site):
    add(store, "wire", site.route("/feed.xml", teasers(site)))
    result = collect_feed(store, settings, "wire")
    assert (result.error, result.new, result.full_text, result.full_text_failed) == (None, 3, 3, 0)
    found = articles(store)

    glaciers = found[GLACIERS]
    assert "Dust from the Sahara" in glaciers.summary_text
    assert "by 2100" in glaciers.summary_text and "Matthias Huss" in glaciers.summary_text
    # a sentence that merely contains "read more" stays
    assert "If you want to read more about how glaciers feed the rivers" in glaciers.summary_text
    assert glaciers.image == site.url("/wp-content/uploads/2026/11/aletsch-1200x630.jpg")  # og:image, made absolute
    assert glaciers.author == "Maria Lopez"
    assert glaciers.language == "en"
    assert glaciers.title == "Alpine glaciers lost a record share of their ice this summer"  # the feed's own
    assert excerpt(glaciers.summary_text) == GLACIERS_FIRST_SENTENCE  # the email's summary ends with its sentence
    assert f'href="{site.url("/2025/09/pizol-glacier-gone/")}"' in glaciers.summary_html  # relative link resolved
    assert "javascript" not in glaciers.summary_html and "Interactive map" in glaciers.summary_text  # unlinked

    oceans = found[OCEANS]
    assert oceans.language == "fr" and oceans.author == "Claire Dubois"
    assert oceans.image == "https://img.journal.example/api/v1/images/view/oceans/1200_630/bouee-argo.jpg"
    assert "seize zettajoules" in oceans.summary_text and "réseau Argo" in oceans.summary_text

    teide = found[TEIDE]
    assert teide.language == "es" and teide.author == "Javier Morales"
    assert "espectrógrafo" in teide.summary_text and "pruebas de calibración" in teide.summary_text  # ISO-8859-1
    assert teide.image == "http://cdn.cieloabierto.example/uploads/2026/11/teide-espectrografo.jpg"  # //cdn...

    for article, lang in ((glaciers, "en"), (oceans, "fr"), (teide, "es")):
        for chrome in CHROME[lang]:
            assert chrome not in article.summary_text, (lang, chrome)
            assert chrome not in article.summary_html, (lang, chrome)
        assert_email_safe(article.summary_html)


def test_the_email_shows_the_summary_cut_at_a_sentence_end(store, settings, site, weekly):
    add(store, "wire", site.route("/feed.xml", teasers(site)))
    collect_feed(store, settings, "wire")
    glaciers = articles(store)[GLACIERS]
    file_as(store, [glaciers], "climate")
    _, rendered = next_issue(store, settings, "weekly")
    html, text = rendered.assemble(None)
    assert f'<p class="summary">{GLACIERS_FIRST_SENTENCE}</p>' in re.sub(r"<p class=\"summary\"[^>]*>",
                                                                          '<p class="summary">', html)
    assert GLACIERS_FIRST_SENTENCE in " ".join(text.split())
    assert "Dust from the Sahara" not in html  # the second sentence would pass 280 characters


def test_pages_are_read_once_newest_first_and_capped_per_collection(store, settings, site):
    paths = [f"/story/{n}/" for n in range(5)]
    for path in paths:
        site.route(path, page("wordpress-glaciers.html"), headers={"Content-Type": "text/html"})
    feed = rss(*({"title": f"Story {n}", "link": site.url(p), "description": f"Teaser {n}…", "days": str(n + 1)}
                 for n, p in enumerate(paths)))
    add(store, "wire", site.route("/feed.xml", feed))
    capped = settings.model_copy(update={"fulltext_max_pages": 2})
    assert collect_feed(store, capped, "wire").full_text == 2
    assert page_requests(site, *paths) == paths[:2]  # the two newest
    found = articles(store)
    assert "Dust from the Sahara" in found[paths[0]].summary_text
    assert found[paths[4]].summary_text == "Teaser 4…"  # over the cap: the feed's teaser
    # The next collection reads no page again: those articles exist (the rest stay teasers).
    assert collect_feed(store, capped, "wire").full_text == 0
    assert page_requests(site, *paths) == paths[:2]


def test_mode_never_keeps_the_teaser_and_fetches_nothing(store, settings, site):
    add(store, "wire", site.route("/feed.xml", teasers(site)), mode="never")
    result = collect_feed(store, settings, "wire")
    assert (result.new, result.full_text) == (3, 0)
    assert page_requests(site, GLACIERS, OCEANS, TEIDE) == []
    glaciers = articles(store)[GLACIERS]
    # The feed's own chrome is gone all the same: "Continue reading", "The post ... appeared first on".
    assert glaciers.summary_text == ("Swiss glaciers lost four percent of their remaining volume this summer, "
                                     "the second largest loss since measurements began…")


def test_auto_leaves_a_full_entry_alone_and_always_reads_its_page(store, settings, site):
    full = ("The Glacier Monitoring Switzerland network reported record losses this summer. " * 8).strip()
    for mode in ("auto", "always"):
        path = f"/{mode}/glaciers/"
        site.route(path, page("wordpress-glaciers.html"), headers={"Content-Type": "text/html"})
        feed = rss({"title": f"Glaciers ({mode})", "link": site.url(path), "description": f"<p>{full}</p>"})
        add(store, mode, site.route(f"/{mode}.xml", feed), mode=mode)
        assert collect_feed(store, settings, mode).full_text == (mode == "always")
    found = articles(store)
    assert found["/auto/glaciers/"].summary_text == full and page_requests(site, "/auto/glaciers/") == []
    assert "Dust from the Sahara" in found["/always/glaciers/"].summary_text


# -- pages that fail -----------------------------------------------------------------------


def test_a_page_that_404s_or_redirects_to_a_private_address_leaves_the_teaser(store, settings, server):
    server.route("/to-metadata", status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    server.route("/to-private", status=302, headers={"Location": "http://10.0.0.1/admin"})
    items = [{"title": f"Story {p}", "link": server.url(p), "description": f"Teaser of {p}.", "days": str(n + 1)}
             for n, p in enumerate(("/missing", "/to-metadata", "/to-private"))]
    feed = add(store, "wire", server.route("/feed.xml", rss(*items)))
    # Why, page by page (asked before collecting: the pages of stored articles are not read again).
    report = add_full_text(store, settings, feed, parse_feed(rss(*items).encode(), server.url("/feed.xml")).entries)
    assert (report.extracted, report.failed) == (0, 3)
    assert "HTTP 404" in report.errors[0]
    assert "169.254.169.254 is not a public address" in report.errors[1]
    assert "10.0.0.1 is not a public address" in report.errors[2]
    result = collect_feed(store, settings, "wire")
    assert (result.error, result.new, result.full_text, result.full_text_failed) == (None, 3, 0, 3)
    found = articles(store)
    assert [found[p].summary_text for p in ("/missing", "/to-metadata", "/to-private")] == [
        "Teaser of /missing.", "Teaser of /to-metadata.", "Teaser of /to-private."]


def test_a_page_redirecting_to_another_loopback_address_never_connects_to_it(store, settings, server):
    """With only 127.0.0.1 allowed, a page redirecting to 127.0.0.2 is refused before any connection."""
    other = FeedServer(host="127.0.0.2")
    try:
        other.route("/secret", page("wordpress-glaciers.html"), headers={"Content-Type": "text/html"})
        server.route("/story", status=302, headers={"Location": other.url("/secret")})
        add(store, "wire", server.route("/feed.xml", rss(
            {"title": "Story", "link": server.url("/story"), "description": "Short teaser."})))
        result = collect_feed(store, settings.model_copy(update={"fetch_allow_networks": "127.0.0.1/32"}), "wire")
        assert (result.error, result.new, result.full_text_failed) == (None, 1, 1)
        assert other.connections == 0
        assert articles(store)["/story"].summary_text == "Short teaser."
    finally:
        other.close()


def test_after_three_failures_in_a_row_the_rest_keep_the_feeds_text(store, settings, server):
    items = [{"title": f"Story {n}", "link": server.url(f"/gone/{n}"), "description": f"Teaser {n}.",
              "days": str(n + 1)} for n in range(6)]
    add(store, "wire", server.route("/feed.xml", rss(*items)))
    result = collect_feed(store, settings, "wire")
    assert (result.error, result.new, result.full_text_failed) == (None, 6, 3)
    assert [p for p, _ in server.requests if p.startswith("/gone/")] == ["/gone/0", "/gone/1", "/gone/2"]


def test_slow_article_pages_share_one_deadline_and_the_feed_is_still_collected(store, settings, site):
    """Article pages are anyone's (a link blog links to pages it does not own): each answering just
    within FETCH_DEADLINE must not add up past the collect task's time limit, which would stop the
    whole feed (nothing stored, no error recorded) at every collection."""
    paths = [f"/slow/{n}/" for n in range(8)]
    for path in paths:
        site.route(path, page("wordpress-glaciers.html"), headers={"Content-Type": "text/html"}, delay=0.4)
    feed = rss(*({"title": f"Story {n}", "link": site.url(p), "description": f"Teaser {n}…", "days": str(n + 1)}
                 for n, p in enumerate(paths)))
    add(store, "wire", site.route("/feed.xml", feed))
    quick = settings.model_copy(update={"fetch_deadline": 0.5})
    started = time.monotonic()
    result = collect_feed(store, quick, "wire")
    elapsed = time.monotonic() - started
    # The feed (fast) and the pages together (one deadline, and extracting what came), not up to a
    # deadline per page (8 x 0.4 s and more).
    assert elapsed < 2.2, elapsed
    assert (result.error, result.new) == (None, 8)
    assert 1 <= result.full_text < 8  # the pages read in time give their text; the rest keep the teaser
    assert articles(store)[paths[7]].summary_text == "Teaser 7…"
    # and the collect task's limits leave room for the feed's deadline and the pages' one
    soft, _ = collect_time_limits(quick)
    assert soft >= 2 * quick.fetch_deadline + COLLECT_PROCESSING_SECONDS


def test_a_page_that_is_not_html_over_the_caps_or_empty_is_refused_with_its_reason(settings, server):
    big = b"<html><body>" + b"<p>" + b"word " * 50_000 + b"</p></body></html>"
    with make_client(settings) as client:
        with pytest.raises(ExtractError, match=r"not an HTML page \(application/pdf\)"):
            read_page(client, server.route("/doc.pdf", b"%PDF-1.7", headers={"Content-Type": "application/pdf"}),
                      max_bytes=10_000)
        with pytest.raises(DigestError, match="byte cap"):
            read_page(client, server.route("/big", big, headers={"Content-Type": "text/html"}), max_bytes=10_000)
        crowded = b"<html><body>" + b"<div><span>a</span></div>" * 15_000 + b"</body></html>"
        with pytest.raises(ExtractError, match="more than 20000 elements"):
            read_page(client, server.route("/crowded", crowded, headers={"Content-Type": "text/html"}),
                      max_bytes=settings.fetch_max_bytes)
        with pytest.raises(ExtractError, match="no article text"):
            read_page(client, server.route("/empty", "<html><body><nav><a href='/'>Home</a></nav></body></html>",
                                           headers={"Content-Type": "text/html"}), max_bytes=10_000)


def test_a_page_with_no_more_text_than_the_feed_leaves_the_feeds_text(store, settings, server):
    server.route("/thin", "<html><body><article><p>Short.</p></article></body></html>",
                 headers={"Content-Type": "text/html"})
    add(store, "wire", server.route("/feed.xml", rss(
        {"title": "Thin", "link": server.url("/thin"), "description": "A teaser with more words than the page."})))
    result = collect_feed(store, settings, "wire")
    assert (result.full_text, result.full_text_failed) == (0, 1)
    assert articles(store)["/thin"].summary_text == "A teaser with more words than the page."


# -- chrome inside a feed's own content ----------------------------------------------------

WORDPRESS_CONTENT = """<p>The committee approved the budget on Monday after a debate that lasted six hours.</p>
<p>If you want to read more about the budget process, the council publishes its minutes.</p>
<div class="sharedaddy sd-sharing-enabled"><div class="robots-nocontent sd-block sd-social"><h3 class="sd-title">
Share this:</h3><div class="sd-content"><ul><li class="share-twitter"><a class="share-twitter sd-button share-icon"
href="https://city.example/budget/?share=twitter" title="Click to share on Twitter"><span>Twitter</span></a></li>
<li class="share-facebook"><a class="share-facebook sd-button share-icon" href="https://city.example/?share=facebook">
<span>Facebook</span></a></li><li class="share-end"></li></ul></div></div></div>
<div id="jp-relatedposts" class="jp-relatedposts"><h3 class="jp-relatedposts-headline"><em>Related</em></h3></div>
<h3>Related posts</h3><ul><li><a href="https://city.example/tram/">Tram line opens</a></li>
<li><a href="https://city.example/park/">New park</a></li></ul>
<p><a href="https://city.example/budget/">Read more</a></p>
<p>The post <a href="https://city.example/budget/">Budget approved</a> appeared first on
<a href="https://city.example">City News</a>.</p>
<p><a href="https://city.example/budget/?noamp=mobile" class="amp-wp-canonical-link">Exit mobile version</a></p>
<img src="https://city.example/icon.png" alt="Site icon" class="amp-wp-site-icon">"""


def test_chrome_inside_a_feeds_own_content_is_removed_and_its_sentences_stay(store, settings, server):
    feed = rss({"title": "Budget approved", "link": "https://city.example/budget/",
                "description": WORDPRESS_CONTENT + "<p>" + "The council meets again in March. " * 20 + "</p>"})
    add(store, "city", server.route("/feed.xml", feed), mode="never")
    assert collect_feed(store, settings, "city").new == 1
    article = articles(store)
    text = article["/budget/"].summary_text
    assert text.startswith("The committee approved the budget on Monday after a debate that lasted six hours. "
                           "If you want to read more about the budget process, the council publishes its minutes. "
                           "The council meets again in March.")
    for chrome in ("Share this", "Twitter", "Facebook", "Related", "Tram line", "New park", "Read more",
                   "appeared first", "Exit mobile version"):
        assert chrome not in text and chrome not in article["/budget/"].summary_html, chrome
    assert "icon.png" not in article["/budget/"].summary_html


@pytest.mark.parametrize(("html", "kept", "gone"), [
    ('<p>Teaser text… <a href="https://x.example/a">Read more</a></p>', "Teaser text…", "Read more"),
    ("<p>Plain teaser text. Read more »</p>", "Plain teaser text.", "Read more"),
    ("<p>Der Haushalt ist beschlossen.</p><p>Der Beitrag Haushalt erschien zuerst auf Stadtblatt.</p>",
     "Der Haushalt ist beschlossen.", "erschien zuerst"),
    ("<p>Le budget est voté.</p><p>L’article Budget est apparu en premier sur Le Quotidien.</p>",
     "Le budget est voté.", "apparu en premier"),
    ("<p>El presupuesto fue aprobado.</p><p>La entrada Presupuesto se publicó primero en El Diario.</p>",
     "El presupuesto fue aprobado.", "se publicó primero"),
    ('<p>Texte.</p><p>Partager :</p><ul><li><a href="https://f.example">Facebook</a></li>'
     '<li><a href="https://t.example">Twitter</a></li></ul>', "Texte.", "Facebook"),
    ("<p>Text.</p><p>Weiterlesen →</p><p>Teilen auf Facebook</p>", "Text.", "Weiterlesen"),
    ("<p>Texto.</p><p>Salir de la versión móvil</p><p>Icono del sitio</p>", "Texto.", "versión móvil"),
    ('<p>Texte.</p><p>Lire aussi | <a href="https://j.example/x">Une autre histoire</a></p>', "Texte.", "autre"),
    ('<p>Text.</p><div class="cookie-banner">This site uses cookies. <a href="#">OK</a></div>', "Text.", "cookies"),
    ('<p>Text.</p><p style="display:none">Hidden preheader words</p>', "Text.", "Hidden"),
    ('<p>Text.</p><nav><a href="https://x.example/">Home</a></nav><aside>Sidebar</aside>', "Text.", "Home"),
])
def test_boilerplate_is_removed_in_four_languages(html, kept, gone):
    text = html_to_text(sanitize_html(html))
    assert kept in text and gone not in text, text


@pytest.mark.parametrize("html", [
    "<p>If you want to read more about CrmBasedUserList, have a look at our guide.</p>",
    "<p>I want to <em>read</em> more</p>",
    '<ul><li><a href="http://www.amazon.com/dp/B0004LYFKQ/">Cookies</a></li></ul>',  # atp.rss show notes
    '<p>Follow the <a href="https://twitter.com/nasa">Twitter</a> account for updates.</p>',
    '<p>Contact: <a href="mailto:desk@news.example">Email</a></p>',
    "<p>Regulators say tracking cookies need consent, and the policy takes effect in May.</p>",
    "<blockquote><p>It will pass.</p><footer>Ada, in a letter</footer></blockquote>",
    "<pre><code>share(); // Read more\n</code></pre>",
    '<div class="post-share-wrapper"><p>' + "A wrapper whose class says share holds the article. " * 10 + "</p></div>",
    # found by running the ../shared corpus through the sanitizer:
    "<p>This makes keyboard shortcuts <em>more</em> discoverable than they are on the Mac.</p>",  # Daring Fireball
    '<p><b>See Also:</b> the spoken version, given as a <a href="https://y.example/v">talk at a conference</a>.</p>',
    '<div class="sidebar"><p><strong>Aside</strong><br>The only reason I own Excel is to open sheets.</p></div>',
    "<table><tr><th>Size</th><th>Search</th></tr><tr><td>1</td><td>Share</td></tr></table>",  # russcox.atom
    "<h3>Search</h3><p>Use the Search App Store action.</p>",  # rose.json
    "<p>New Release<br><i>(recommended)</i></p>",  # feedburner.atom
    '<ul><li>More <a href="http://nshipster.com/nsurlprotocol/">at NSHipster</a></li></ul>',  # atp.rss
])
def test_sentences_that_only_contain_such_words_stay(html):
    def letters(text: str) -> str:  # (the allow-list drops table tags, and their spacing with them)
        return "".join(text.split())

    assert letters(html_to_text(sanitize_html(html))) == letters(html_to_text(html))


# -- the sanitizer: links and images that may reach an email -------------------------------

HOSTILE_LINKS = ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "java\tscript:alert(1)", " javascript:alert(1)",
                 "&#106;avascript:alert(1)", "data:text/html;base64,PHNjcmlwdD4=", "vbscript:msgbox(1)",
                 "file:///etc/passwd", "ftp://files.example/x", "//evil.example/x", "/relative/path",
                 "relative.html", "#top", "?q=1", "tel:+123", "mailto:", "http://", "https:///nohost"]


@pytest.mark.parametrize("href", HOSTILE_LINKS)
def test_only_absolute_http_and_mailto_links_and_http_images_survive(href):
    html = sanitize_html(f'<p><a href="{href}">link</a> <img src="{href}" alt="x"> words</p>')
    hrefs, srcs = links_and_images(html)
    assert hrefs == [] and srcs == [], html
    assert "link" in html and "words" in html  # the text stays, unlinked


def test_relative_links_and_images_are_resolved_against_the_page():
    html = sanitize_html('<p><a href="/a/b?x=1">one</a> <a href="c.html">two</a> <a href="//cdn.example/d">three</a>'
                         ' <a href="mailto:desk@news.example">mail</a> <img src="img/e.png">'
                         ' <img src="mailto:x@y.example"> <a href="javascript:alert(1)">bad</a></p>',
                         base_url="https://site.example/dir/page.html")
    hrefs, srcs = links_and_images(html)
    assert hrefs == ["https://site.example/a/b?x=1", "https://site.example/dir/c.html", "https://cdn.example/d",
                     "mailto:desk@news.example"]
    assert srcs == ["https://site.example/dir/img/e.png"]


def test_a_lazy_loaded_image_keeps_its_real_source_and_noscript_leaks_no_markup():
    html = sanitize_html('<p>Text</p><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="https://i.example/'
                         'real.jpg" class="lazyload"><noscript><img src="https://i.example/real.jpg"></noscript>')
    assert links_and_images(html)[1] == ["https://i.example/real.jpg"]
    assert "&lt;" not in html


# -- teasers and excerpts ------------------------------------------------------------------


@pytest.mark.parametrize(("text", "teaser"), [
    ("Short text.", True),
    ("word " * 200, False),
    ("word " * 200 + "[…]", True),
    ("word " * 200 + "Continue reading →", True),
    ("word " * 200 + "and more", False),
    ("word " * 200 + "Leer más", True),
    ("word " * 200 + "Lire la suite", True),
    ("word " * 200 + "Weiterlesen", True),
])
def test_a_teaser_is_short_or_ends_like_one(text, teaser):
    assert is_teaser(RawEntry(summary_html=text), 500) is teaser


@pytest.mark.parametrize(("text", "limit", "expected"), [
    ("One sentence here. Another one follows it. " * 10, 100,
     "One sentence here. Another one follows it. One sentence here. Another one follows it."),
    ("Dr. Smith met J. Doe in the U.S. on Monday and they talked about many things at length for hours.", 60,
     "Dr. Smith met J. Doe in the U.S. on Monday and they talked…"),
    ("Oof. " + "a long second sentence without any end in sight " * 5, 100,  # "Oof." alone is too little
     "Oof. a long second sentence without any end in sight a long second sentence without any end in…"),
    ("Short.", 100, "Short."),
    ("«Il pleut.» Les nuages arrivent. " * 5, 50, "«Il pleut.» Les nuages arrivent. «Il pleut.»"),
])
def test_an_excerpt_ends_at_a_sentence_else_at_a_word(text, limit, expected):
    assert excerpt(text, limit) == expected
    assert len(excerpt(text, limit)) <= limit


# -- the real web: ../shared -----------------------------------------------------------------

RSPARSER = "feeds/rsparser/Tests/RSParserTests/Resources"


@pytest.mark.shared
@pytest.mark.parametrize(("name", "gone", "kept"), [
    (f"{RSPARSER}/donthitsave.xml", "[read more]", "I stood in place"),
    (f"{RSPARSER}/dcrainmaker.xml", "Read More Here", "eating cookies and ice cream"),  # "cookies" in a sentence
    (f"{RSPARSER}/EMarley.rss", "Continue reading on", ""),
    (f"{RSPARSER}/atp.rss", "", "Cookies"),  # a show-notes link named "Cookies" stays
    ("feeds/rss-parser/test/input/guardian.rss", "Continue reading", ""),
    ("feeds/rss-parser/test/input/guardian.rss", "Related: ", "Donald Trump"),
])
def test_chrome_in_real_feeds_is_removed_and_their_words_stay(shared, name, gone, kept):
    content = (shared / name).read_bytes()
    entries = parse_feed(content, "https://feed.example/").entries
    raws = [html for e in entries for html in (e.summary_html, e.content_html) if html]
    texts = [html_to_text(sanitize_html(html)) for html in raws]
    if gone:
        assert any(gone.casefold() in html_to_text(html).casefold() for html in raws)
        assert not any(gone.casefold() in t.casefold() for t in texts)
    if kept:
        assert any(kept in t for t in texts)


@pytest.mark.shared
def test_read_more_about_in_a_real_feed_stays(shared):
    content = (shared / "feeds/rss-parser/test/input/feedburner.atom").read_bytes()
    texts = [html_to_text(sanitize_html(e.content_html or e.summary_html))
             for e in parse_feed(content, "https://feedburner.example/").entries]
    assert any("If you want to read more about CrmBasedUserList" in t for t in texts)


@pytest.mark.shared
def test_a_real_article_page_gives_its_text_author_and_image(shared):
    found = extract_page((shared / RSPARSER / "coco.html").read_bytes(),
                         "https://www.theatlantic.com/entertainment/archive/2017/11/coco/546695/",
                         content_type="text/html")
    assert found.author == "Christopher Orr"
    assert found.image and found.image.startswith("https://cdn.theatlantic.com/")
    assert found.text.startswith("Well, that’s more like it.")
    assert "my advice is to round up the family" in found.text
    for chrome in ("Share", "Facebook", "Sign In", "Subscribe", "Newsletter"):
        assert chrome not in found.text, chrome
    assert_email_safe(found.html)


# -- the command line ------------------------------------------------------------------------


def test_a_feeds_full_text_mode_is_set_from_the_command_line(settings, store):
    import subprocess
    import sys

    from tests.workers import worker_env

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", "from digest.cli import main; main()", *args],
                              env=worker_env(settings), capture_output=True, text=True, timeout=60)

    assert run("feeds", "add", "wire", "https://wire.example/feed.xml", "--full-text", "never").returncode == 0
    assert store.get_feed("wire").full_text == "never"
    assert run("feeds", "add", "blog", "https://blog.example/feed.xml").returncode == 0
    assert store.get_feed("blog").full_text == "auto"
    done = run("feeds", "set", "wire", "--full-text", "always")
    assert done.returncode == 0 and "full text always" in done.stdout
    assert store.get_feed("wire") == Feed(id="wire", url="https://wire.example/feed.xml", full_text="always")
    wrong = run("feeds", "set", "wire", "--full-text", "sometimes")
    assert wrong.returncode != 0 and "sometimes" in wrong.stderr
    missing = run("feeds", "set", "nothere", "--full-text", "auto")
    assert missing.returncode != 0 and "nothere" in missing.stderr
    assert store.get_feed("wire").full_text == "always"
