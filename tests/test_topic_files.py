"""Topic files (TOML) and the evaluation measures."""

from __future__ import annotations

import pytest

from digest.errors import InvalidInput
from digest.models import MORE_NEWS, Topic
from digest.topics.evaluate import Labelled, b_cubed, label_to_slug, score_topics, split_corrections
from digest.topics.files import dump_topics, parse_topics

FILE = '''
language = "es"

[[topic]]
slug = "deportes"
name = "Deportes"
description = "Partidos, equipos y atletas."
keywords = ["fútbol", "liga"]

[[topic]]
slug = "economia"
name = "Economía \\"real\\""
description = "Empresas, mercados y empleo."
'''


def test_a_topic_file_reads_in_order_and_writes_back_the_same():
    topics, language = parse_topics(FILE)
    assert language == "es" and [t.slug for t in topics] == ["deportes", "economia"]
    assert topics[0].keywords == ["fútbol", "liga"] and topics[1].keywords == []
    assert topics[1].name == 'Economía "real"'
    assert parse_topics(dump_topics(topics, language, "El Semanal")) == (topics, language)


@pytest.mark.parametrize("text, complaint", [
    ("[[topic]\nslug=1", "not valid TOML"),
    ('[[topic]]\nslug = "Bad Slug"\nname = "x"', "topic 1 ('Bad Slug'): slug"),
    ('[[topic]]\nslug = "a"\nname = "A"\ncolour = "red"', "unknown field(s) colour"),
    ('[[topic]]\nslug = "a"\nname = "A"\n[[topic]]\nslug = "a"\nname = "B"', "defined twice: a"),
    (f'[[topic]]\nslug = "{MORE_NEWS}"\nname = "M"', "reserved"),
    ('title = "x"', "unknown setting(s) title"),
    ("", "no [[topic]] tables"),
])
def test_a_bad_topic_file_names_what_is_wrong(text, complaint):
    with pytest.raises(InvalidInput) as caught:
        parse_topics(text)
    assert complaint in str(caught.value)


def test_b_cubed_of_a_known_clustering():
    p, r, f = b_cubed(["a", "a", "b", "b"], [1, 1, 1, 2])
    assert (round(p, 4), round(r, 4)) == (round(2 / 3, 4), 0.75)
    assert round(f, 4) == round(2 * (2 / 3) * 0.75 / (2 / 3 + 0.75), 4)
    assert b_cubed(["a", "b"], [1, 2]) == (1.0, 1.0, 1.0)


def test_topic_scores_count_more_news_as_a_miss():
    scores = score_topics(["x", "x", "y", "y"], ["x", MORE_NEWS, "y", "x"], ["x", "y"])
    assert scores.accuracy == 0.5 and scores.more_news == 0.25
    assert scores.per_topic["x"][:3] == (0.5, 0.5, 0.5) and scores.per_topic["y"][:3] == (1.0, 0.5, 2 / 3)
    assert scores.report().splitlines()[-1] == "accuracy 0.5000 macro-F1 0.5833 more-news 0.2500"


def test_corrections_are_drawn_per_topic_and_never_scored():
    topics = [Topic(slug="x", name="Ex"), Topic(slug="y", name="Why")]
    rows = label_to_slug([Labelled(str(i), "t", "b", "Ex" if i % 3 else "why") for i in range(30)], topics)
    picked, rest = split_corrections(rows, 4, seed=1)
    assert sorted(r.label for r in picked) == ["x"] * 4 + ["y"] * 4
    assert not {r.id for r in picked} & {r.id for r in rest} and len(rest) == 22
    assert split_corrections(rows, 4, seed=1)[0] == picked != split_corrections(rows, 4, seed=2)[0]
    with pytest.raises(InvalidInput, match="name no topic"):
        label_to_slug([Labelled("1", "t", "b", "Zed")], topics)


def test_a_bad_labelled_csv_names_what_is_wrong(tmp_path):
    from digest.topics.evaluate import read_labelled

    missing = tmp_path / "missing.csv"
    missing.write_text("id,title\n1,a\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="missing column"):
        read_labelled(missing, "label")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("id,label,title,text\n1,x,caf\xe9,\n".encode("latin-1"))
    with pytest.raises(InvalidInput, match="cannot read it"):
        read_labelled(latin, "label")
    empty = tmp_path / "empty.csv"
    empty.write_text("id,label,title,text\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="no rows"):
        read_labelled(empty, "label")


def test_eval_stems_each_article_in_the_language_collection_detects(tmp_path, monkeypatch):
    """A Spanish list's sample of English and French articles is measured as filing runs:
    each article carries its detected language (stemmed in it), not the list's."""
    from digest.topics import assign, evaluate

    topics = tmp_path / "t.toml"
    topics.write_text(FILE, encoding="utf-8")
    data = tmp_path / "d.csv"
    data.write_text("id,label,title,text\n"
                    "1,deportes,The home team won the league final,Fans celebrated the players and the coach.\n"
                    "2,economia,La Bourse de Paris recule,Les résultats des banques ont déçu les investisseurs.\n"
                    "3,economia,ok,\n", encoding="utf-8")
    seen = {}
    real = assign.assign_window

    def record(digest_list, articles, window, corrections, vectors):  # noqa: ANN001, ANN202
        seen.update({a.id: a.language for a in articles})
        return real(digest_list, articles, window, corrections, vectors)

    monkeypatch.setattr(assign, "assign_window", record)
    evaluate.evaluate_topics(topics, data)
    assert seen == {"1": "en", "2": "fr", "3": ""}  # too little text: the list's language is assumed
