"""Topic assignment through the real model: what editors write, in any language, and their corrections."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from digest.issue import build_issue
from digest.models import MORE_NEWS, Article, DigestList, Topic
from digest.topics.filing import correct
from tests.workers import worker_env

NOW = datetime.now(timezone.utc)

SPANISH = [
    Topic(slug="deportes", name="Deportes", description="Partidos, equipos, atletas y competiciones.",
          keywords=["fútbol", "liga", "tenis"]),
    Topic(slug="economia", name="Economía", description="Empresas, mercados, bancos, precios y empleo.",
          keywords=["bolsa", "inflación", "banco"]),
    Topic(slug="salud", name="Salud", description="Enfermedades, medicina, hospitales y salud pública.",
          keywords=["vacuna", "hospital", "virus"]),
]
HEADLINES = {  # written for this test, in four languages
    "deportes": ["Real Madrid beat Barcelona 3-1 in a tense league match",
                 "Le PSG remporte la finale de la Coupe de France",
                 "Bayern München gewinnt das Pokalfinale gegen Leipzig"],
    "economia": ["Central bank raises interest rates to fight inflation",
                 "La Bourse de Paris recule après des résultats décevants",
                 "Die Inflation in Deutschland sinkt auf zwei Prozent"],
    "salud": ["New malaria vaccine cuts child deaths by a third",
              "Les hôpitaux manquent d'infirmières cet hiver",
              "Grippewelle: Krankenhäuser melden volle Stationen"],
}


def article(n: int, title: str, text: str = "", source: str = "Wire") -> Article:
    url = f"https://news.example/{n}"
    return Article(id=hashlib.sha1(url.encode()).hexdigest(), feed_id="planet", source=source, title=title,
                   url=url, guid=url, published=NOW - timedelta(hours=n + 1), summary_text=text or title,
                   content_hash=url)


def sections(store, settings, slug: str) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    content = build_issue(store, settings, store.get_list(slug), NOW)
    return {s.slug: {a.title for st in s.stories for a in st.articles} for s in content.sections}


@pytest.fixture
def semanal(store):  # type: ignore[no-untyped-def]
    lst = DigestList(slug="semanal", name="El Semanal", from_email="n@p.example", locale="es", topics=SPANISH)
    store.add_list(lst)
    return lst


def seed(store, titles: list[str], start: int = 0) -> list[Article]:  # type: ignore[no-untyped-def]
    made = [article(start + i, t) for i, t in enumerate(titles)]
    for a in made:
        store.save_article(a, 86400)
    return made


def test_spanish_topics_file_english_french_and_german_articles(store, settings, semanal):
    seed(store, [t for titles in HEADLINES.values() for t in titles])
    got = sections(store, settings, "semanal")
    for slug, titles in HEADLINES.items():
        assert set(titles) <= got.get(slug, set()), (slug, got)


def test_a_correction_sticks_teaches_the_list_and_can_be_undone(store, settings, semanal):
    chess = seed(store, ["World chess championship: the challenger wins game six"])[0]
    seed(store, [t for titles in HEADLINES.values() for t in titles], start=10)
    assert sections(store, settings, "semanal").get("deportes", set()) >= {chess.title}
    culture = Topic(slug="cultura", name="Cultura", description="Libros, cine, música y exposiciones.")
    store.add_topic("semanal", culture)  # a new topic re-files the window...
    correct(store, settings, "semanal", chess.id[:12], "cultura")  # ...and the editor puts chess there
    got = sections(store, settings, "semanal")
    assert chess.title in got["cultura"]
    later = seed(store, ["Chess olympiad: the defending champions lose in round three"], start=40)[0]
    # Learnt from the correction: a reader of Cultura gets the next chess story (under Cultura as a
    # secondary topic of it, at the least), and the rest of the window stays where it was.
    content = build_issue(store, settings, store.get_list("semanal"), NOW)
    cultura = next(s for s in content.sections if s.slug == "cultura")
    shown = {a.title for st in cultura.stories for a in st.articles} | {
        a.title for stories in cultura.secondary.values() for st in stories for a in st.articles}
    assert later.title in shown
    assert got.keys() - {"cultura"} <= sections(store, settings, "semanal").keys()
    assert store.undo_correction("semanal")["after"]["topic"] == "cultura"
    assert chess.title not in sections(store, settings, "semanal").get("cultura", set())


def test_corrections_never_leak_between_lists(store, settings, semanal):
    other = semanal.model_copy(update={"slug": "otra"})
    store.add_list(other)
    chess = seed(store, ["World chess championship: the challenger wins game six"])[0]
    seed(store, [t for titles in HEADLINES.values() for t in titles], start=10)
    correct(store, settings, "semanal", chess.id, "salud")
    assert chess.title in sections(store, settings, "semanal")["salud"]
    assert chess.title not in sections(store, settings, "otra").get("salud", set())
    assert store.corrections("otra") == {}


def test_a_correction_names_a_topic_of_the_list(store, settings, semanal):
    from digest.errors import NotFound

    chess = seed(store, ["Chess"])[0]
    with pytest.raises(NotFound, match="topic of list 'semanal'"):
        correct(store, settings, "semanal", chess.id, "cooking")
    with pytest.raises(NotFound, match="article"):
        correct(store, settings, "semanal", "0000000000000", "salud")


def test_editing_topics_refiles_the_window(store, settings, semanal):
    seed(store, [t for titles in HEADLINES.values() for t in titles])
    assert "salud" in sections(store, settings, "semanal")
    store.remove_topic("semanal", "salud")
    got = sections(store, settings, "semanal")
    assert "salud" not in got and set(HEADLINES["salud"]) <= {t for titles in got.values() for t in titles}


def test_a_list_without_topics_puts_everything_in_more_news(store, settings):
    store.add_list(DigestList(slug="plain", name="Plain", from_email="n@p.example"))
    seed(store, ["Anything at all"])
    assert list(sections(store, settings, "plain")) == [MORE_NEWS]


def test_topics_eval_prints_its_last_line(tmp_path, settings):
    topics = tmp_path / "t.toml"
    topics.write_text('[[topic]]\nslug = "deportes"\nname = "Deportes"\ndescription = "Partidos y equipos."\n'
                      '[[topic]]\nslug = "salud"\nname = "Salud"\ndescription = "Medicina y hospitales."\n',
                      encoding="utf-8")
    data = tmp_path / "d.csv"
    rows = [f'{i},{slug},"{title}",""' for i, (slug, titles) in enumerate(
        (s, t) for s in ("deportes", "salud") for t in HEADLINES[s]) for title in [titles]]
    data.write_text("id,label,title,text\n" + "\n".join(rows) + "\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-c", "from digest.cli import main; main()", "topics", "eval",
                        "--topics", str(topics), "--data", str(data)], env=worker_env(settings),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    last = r.stdout.strip().splitlines()[-1].split()
    assert last[0::2] == ["accuracy", "macro-F1", "more-news"] and float(last[1]) == 1.0


def test_an_articles_language_is_detected_and_too_little_text_says_so():
    from digest.collect.language import detect_language

    assert detect_language("La Bourse de Paris recule", "Les résultats des banques ont déçu les investisseurs.") == "fr"
    assert detect_language("Die Inflation sinkt", "Die Preise in Deutschland steigen langsamer als im Vorjahr.") == "de"
    assert detect_language("El banco central sube los tipos", "La inflación sigue alta en toda la zona euro.") == "es"
    assert detect_language("Markets calm", "Stocks ended the week slightly higher as investors waited.") == "en"
    assert detect_language("ok", "") == ""


def test_collected_articles_carry_their_language(store, settings):
    from digest.collect.collector import collect_feed
    from digest.models import Feed
    from tests.feedserver import FeedServer

    rss = ('<?xml version="1.0"?><rss version="2.0"><channel><title>Mix</title>'
           '<item><title>El banco central sube los tipos</title><link>https://mix.example/1</link>'
           '<description>La inflación sigue alta en toda la zona euro, dice el banco.</description></item>'
           '<item><title>Die Inflation sinkt</title><link>https://mix.example/2</link>'
           '<description>Die Preise in Deutschland steigen langsamer als im Vorjahr.</description></item>'
           '</channel></rss>')
    server = FeedServer()
    try:
        store.add_feed(Feed(id="mix", url=server.route("/mix", rss)))
        assert collect_feed(store, settings, "mix").new == 2
    finally:
        server.close()
    found = store.articles_between(NOW - timedelta(days=2), NOW + timedelta(days=1))
    assert sorted(a.language for a in found) == ["de", "es"]
