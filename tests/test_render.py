"""The rendered digest: size, CSS support, dark mode, variants, locale, escaping."""

from __future__ import annotations

import csv
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from lxml import html as lxml_html

from digest.issue import build_issue, next_issue
from digest.models import DigestList
from digest.render import personalize, premailer_calls, render_issue
from digest.store import Store
from tests.factories import article, file_as, seed_week

GMAIL_CLIP = 102 * 1024
# The clients the digest must look right in, as caniemail names them.
MAIN_CLIENTS = [("gmail", "desktop-webmail"), ("gmail", "android"), ("gmail", "ios"),
                ("outlook", "windows"), ("outlook", "outlook-com"), ("outlook", "macos"),
                ("apple-mail", "macos"), ("apple-mail", "ios")]
# Properties used as progressive enhancement, each with the fallback that covers
# the clients lacking it.
ENHANCEMENTS = {
    "max-width": "the container also has width=600; Outlook for Windows uses that",
    "max-height": "hidden preheader: mso-hide:all hides it in Outlook for Windows",
    "overflow": "hidden preheader: mso-hide:all hides it in Outlook for Windows",
    "display": "display:block on images and display:none on the preheader; Outlook ignores both harmlessly",
    "letter-spacing": "section titles read the same without it",
    "text-transform": "section titles read the same without it",
}


def big_issue(store: Store, n: int = 50) -> None:
    """n different stories (each its own event: no words in common but the filler), filed in topics."""
    topics = ["climate", "space", "markets"]
    words = "".join(chr(c) for c in range(ord("a"), ord("z") + 1))
    for i in range(n):
        topic = topics[i % 4] if i % 4 < 3 else None
        a = article(i, topic)
        own = " ".join(f"{words[i % 26]}{words[(i * 7 + k) % 26]}{words[k]}{i}" for k in range(12))
        a.summary_text = f"{own}. " + ("A long summary of what happened and why it matters to readers. " * 7)
        a.image = f"https://img.example/{i}.jpg"
        a.title = f"Event {i} {own.split()[0]}: a headline of a realistic length for a news story"
        store.save_article(a, 86400)
        file_as(store, [a], topic)


def test_a_fifty_article_issue_stays_under_gmails_clip(store, settings, weekly):
    big_issue(store, 50)
    weekly = weekly.model_copy(update={"max_per_section": 50})
    store.add_list(weekly)
    content, rendered = next_issue(store, settings, "weekly")
    assert len(content.articles) == 50
    html, text = rendered.assemble(None)
    assert len(html.encode("utf-8")) < GMAIL_CLIP
    assert html.count('class="card"') == 50 and text.count("\n* ") == 50


def test_premailer_runs_once_per_issue_whatever_the_variants(store, settings, weekly):
    seed_week(store, ["climate", "space", "markets"])
    before = premailer_calls()
    _, rendered = next_issue(store, settings, "weekly")
    choices = [None, {"space"}, {"climate", "markets"}, {"markets", "more"}, {"more"}, {"space", "climate"}]
    variants = {rendered.assemble(c) for c in choices}
    assert len(variants) == len(choices)
    assert premailer_calls() - before == 1


def test_variants_hold_only_the_chosen_sections_in_both_parts(store, settings, weekly):
    seed_week(store, ["climate", "space", "markets"])
    _, rendered = next_issue(store, settings, "weekly")
    html, text = rendered.assemble({"space"})
    assert "Space story number 0" in html and "Space story number 0" in text
    for other in ("Climate story", "Markets story", "Other story"):
        assert other not in html and other not in text
    assert rendered.assemble({"cooking"}) is None
    assert rendered.subject_for({"space"}) == f"The Weekly Planet: {rendered.headlines['space~main'][0]}"
    assert rendered.headlines["space~main"][0].startswith("Space story number 0")
    full, _ = rendered.assemble(None)
    assert [s for s in re.findall(r">(Climate|Space|Markets|More news)</h2>", full)] == \
        ["Climate", "Markets", "Space", "More news"]  # the list carries every topic, by slug


def test_a_reader_of_only_a_secondary_topic_gets_the_story_there_and_nobody_gets_it_twice(
        store, settings, weekly):
    seed_week(store, ["climate", "space"])
    both = article(50, "markets")
    store.save_article(both, 86400)
    file_as(store, [both], "markets", secondary=("space",))  # primary markets, also space
    _, rendered = next_issue(store, settings, "weekly")
    space_only, _ = rendered.assemble({"space"})
    assert both.title in space_only  # in the section the reader chose
    space_html = space_only.split(">Space</h2>")[1]
    assert both.title in space_html
    def cards(html: str) -> list[str]:
        return [a.text_content() for a in lxml_html.document_fromstring(html).find_class("title")]

    for choice in (None, {"space", "markets"}, {"markets"}):
        html, text = rendered.assemble(choice)
        assert cards(html).count(both.title) == 1 and text.count(f"* {both.title}") == 1, choice
        assert both.title in cards(html.split(">Markets</h2>")[1])  # in its own section
    assert both.title not in cards(rendered.assemble({"climate"})[0])
    assert len({rendered.variant_key(c) for c in ({"space"}, {"space", "markets"}, {"markets"})}) == 3


def test_dark_mode_and_mobile_rules_survive_inlining(store, settings, weekly):
    seed_week(store, ["space"])
    _, rendered = next_issue(store, settings, "weekly")
    html, _ = rendered.assemble(None)
    style = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    assert "@media (prefers-color-scheme: dark)" in style and "!important" in style
    assert "@media only screen and (max-width: 620px)" in style
    assert ".card {" not in style.split("@media")[0]  # plain rules were inlined, not kept
    assert re.search(r'<td class="card" style="[^"]*padding', html)
    assert '<meta name="color-scheme" content="light dark">' in html


def test_feed_text_is_escaped_and_the_reader_parts_stay_placeholders(store, settings, weekly):
    evil = article(1, "space")
    evil.title = "<script>alert(1)</script> Launch"
    store.save_article(evil, 3600)
    _, rendered = next_issue(store, settings, "weekly")
    html, text = rendered.assemble(None)
    m = rendered.markers
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert f"https://digest.example/u/{m.token}" in html and f"/u/{m.token}" in text
    assert f"https://digest.example/p/{m.token}" in html
    assert m.greeting_html in html and m.greeting_text not in html
    assert m.greeting_text in text and m.greeting_html not in text
    assert rendered.greeting(" ") == "Here is your week."


def test_placeholders_are_new_for_every_rendering(store, settings, weekly):
    seed_week(store, ["space"])
    first = next_issue(store, settings, "weekly")[1].markers
    second = next_issue(store, settings, "weekly")[1].markers
    assert len({first.token, first.greeting_html, first.greeting_text, second.token}) == 4


def test_a_readers_name_is_escaped_for_the_part_it_lands_in(store, settings, weekly):
    seed_week(store, ["space"])
    _, rendered = next_issue(store, settings, "weekly")
    values = rendered.reader_values("tok", 'Q" onerror="alert(77)" x="<b>&')
    html, text = (personalize(part, values) for part in rendered.assemble(None))
    assert 'Hello Q&#x27;' not in html  # quotes escaped as &quot;, the rest as entities
    assert "Hello Q&quot; onerror=&quot;alert(77)&quot; x=&quot;&lt;b&gt;&amp;, here is your week." in html
    assert 'Hello Q" onerror="alert(77)" x="<b>&, here is your week.' in text


def test_a_spanish_list_reads_spanish(store, settings, topics):
    store.add_list(DigestList(slug="semanal", name="El Planeta", from_email="n@p.example", locale="es",
                              timezone="Europe/Madrid"))
    seed_week(store, ["space"])
    _, rendered = next_issue(store, settings, "semanal")
    html, text = rendered.assemble(None)
    assert '<html lang="es"' in html
    assert "Darse de baja" in html and "Más noticias" in html and "Darse de baja" in text
    assert re.search(r"\d+ de [a-z]+ de 20\d\d", html)
    assert rendered.greeting("Carla") == "Hola Carla, esta es tu semana."
    assert re.search(r"\d+ noticias esta semana", rendered.preheader_for(None))


def test_dates_follow_the_lists_time_zone(store, settings, topics):
    lst = DigestList(slug="semanal", name="El Planeta", from_email="n@p.example", locale="es",
                     timezone="Europe/Madrid")
    store.add_list(lst)
    a = article(1, "space")
    a.published = datetime(2026, 11, 22, 23, 30, tzinfo=timezone.utc)  # the 23rd in Madrid
    store.save_article(a, 3600)
    content = build_issue(store, settings, lst, datetime(2026, 11, 23, 23, 30, tzinfo=timezone.utc))
    html, _ = render_issue(content, settings).assemble(None)
    assert "24 de noviembre de 2026" in html and "23 nov 2026" in html


def test_build_issue_window_feeds_primary_topic_more_news_last_and_cap(store, settings, weekly, topics):
    now = datetime.now(timezone.utc)
    both = article(1, "markets")
    old = article(2, "space", days_ago=9)
    elsewhere = article(3, "space", feed="other")
    stray = article(4, None)
    many = [article(10 + i, "climate") for i in range(12)]
    for a in [both, old, elsewhere, stray, *many]:
        store.save_article(a, 86400 * 30)
    file_as(store, [both], "markets", secondary=("space",))
    file_as(store, [old, elsewhere], "space")
    file_as(store, [stray], None)
    file_as(store, many, "climate")
    lst = weekly.model_copy(update={"feeds": ["planet"], "max_per_section": 5})
    content = build_issue(store, settings, lst, now)
    got = {s.slug: [a.id for a in s.articles] for s in content.sections}
    assert list(got) == ["climate", "markets", "space", "more"] and got["space"] == []
    space = content.sections[2]
    assert [st.lead.id for st in space.secondary["markets"]] == [both.id]  # also space: for space-only readers
    assert got["markets"] == [both.id] and got["more"] == [stray.id]
    assert got["climate"] == [a.id for a in many[:5]]  # newest first, capped


def _css_properties(html: str) -> set[str]:
    props = set()
    for decl in re.findall(r'style="([^"]*)"', html) + re.findall(r"\{([^{}]*)\}", html):
        for part in decl.split(";"):
            if ":" in part:
                props.add(part.split(":", 1)[0].strip().lower())
    return {p for p in props if p and not p.startswith("mso-")}


def test_only_css_the_main_clients_support(store, settings, weekly, shared: Path):
    big_issue(store, 20)
    _, rendered = next_issue(store, settings, "weekly")
    html, _ = rendered.assemble(None)
    latest: dict[tuple[str, str, str], tuple[str, str]] = {}
    with (shared / "caniemail" / "support.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            key = (row["feature"], row["client"], row["platform"])
            if key not in latest or row["version"] >= latest[key][0]:
                latest[key] = (row["version"], row["support"])
    unsupported = []
    for prop in sorted(_css_properties(html)):
        feature = f"css-{prop}"
        for client, platform in MAIN_CLIENTS:
            support = latest.get((feature, client, platform), (None, "u"))[1]
            if support == "n" and prop not in ENHANCEMENTS:
                unsupported.append(f"{prop} in {client}/{platform}")
    assert unsupported == []
    # media queries are enhancement too, but the clients that matter for them must take them
    for client, platform in [("apple-mail", "ios"), ("apple-mail", "macos"), ("gmail", "desktop-webmail")]:
        assert latest[("css-at-media", client, platform)][1] in ("y", "a")


def test_every_catalog_translates_every_message():
    from babel.messages.pofile import read_po

    from digest.models import LOCALES
    from digest.render.engine import LOCALE_DIR

    catalogs = {}
    for locale in LOCALES[1:]:  # English is the identity
        with (LOCALE_DIR / locale / "LC_MESSAGES" / "digest.po").open("rb") as f:
            catalogs[locale] = {m.id: m.string for m in read_po(f) if m.id}
    ids = {locale: set(c) for locale, c in catalogs.items()}
    assert len({frozenset(s) for s in ids.values()}) == 1, "catalogs disagree on their messages"
    for locale, catalog in catalogs.items():
        assert all(catalog.values()), f"{locale}: untranslated messages"


@pytest.mark.parametrize("locale, unsubscribe, more_news, date", [
    ("fr", "Se désabonner", "Autres actualités", r"\d+ [a-zéû]+ 20\d\d"),
    ("de", "Abbestellen", "Weitere Nachrichten", r"\d+\. [A-ZÄa-zä]+ 20\d\d"),
])
def test_french_and_german_lists_read_their_language(store, settings, topics, locale, unsubscribe, more_news, date):
    store.add_list(DigestList(slug="liste", name="Liste", from_email="n@p.example", locale=locale,
                              timezone="Europe/Paris"))
    seed_week(store, ["space"])
    _, rendered = next_issue(store, settings, "liste")
    html, text = rendered.assemble(None)
    assert f'<html lang="{locale}"' in html
    assert unsubscribe in html and more_news in html and unsubscribe in text
    assert re.search(date, html)
