"""Feeds in encodings other than UTF-8 come out as the text their authors wrote.

Every case is a feed generated here in the encoding under test: declared in the
XML declaration, in the HTTP Content-Type, in both (disagreeing), not at all,
wrongly, or by a byte order mark. The precedence is digest.collect.encoding's:
BOM, then bytes that are valid UTF-8, then the header's charset, then the XML
declaration, then detection (charset-normalizer), windows-1252 last.
"""

from __future__ import annotations

import codecs
import random

import pytest

from digest.collect.collector import collect_feed
from digest.collect.encoding import decode_xml
from digest.collect.parse import parse_feed
from digest.errors import FeedError
from tests.factories import add_feed as add
from tests.test_hostile_feeds import json_feed, of_feed

# Text in each script, long enough for detection to have something to go on.
TEXTS = {
    "french": ("Élections régionales : la gauche reprend l’Île-de-France",
               "Les électeurs ont voté dimanche ; à Créteil, l’abstention a été forte. « C’est un échec », "
               "a déclaré la maire, qui espère un sursaut au second tour. Les résultats définitifs sont attendus "
               "lundi matin, après le dépouillement des bulletins envoyés par la poste."),
    "portuguese": ("Última hora: eleições no Brasil",
                   "O candidato lidera as intenções de voto, segundo a pesquisa divulgada nesta terça-feira. "
                   "A votação acontece em outubro, e a campanha começa oficialmente em agosto. Não há "
                   "informação sobre debates na televisão."),
    "german": ("Grüne fordern schärfere Maßnahmen für den Klimaschutz",
               "Die Bundesregierung müsse bis Ende des Jahres über zusätzliche Förderprogramme entscheiden, "
               "sagte die Fraktionsvorsitzende am Dienstag. Die Wirtschaft äußerte sich zurückhaltend über "
               "höhere Abgaben auf fossile Brennstoffe."),
    "polish": ("Żółw przeszedł przez jezdnię w Łodzi",
               "Mieszkańcy zgłosili, że zwierzę poruszało się bardzo powoli. Straż miejska zabrała żółwia do "
               "schroniska, gdzie czeka na właściciela. Świadkowie mówią, że kierowcy zachowali się wzorowo."),
    "russian": ("Ракета вышла на расчётную орбиту",
                "Запуск прошёл успешно, сообщили в пресс-службе. Спутник будет работать на орбите не менее "
                "десяти лет и обеспечит связь в отдалённых районах страны. Следующий запуск запланирован на "
                "весну."),
    "greek": ("Νέα μέτρα για την ακρίβεια στα τρόφιμα",
              "Η κυβέρνηση ανακοίνωσε σήμερα νέα μέτρα στήριξης για τα νοικοκυριά. Τα μέτρα θα ισχύσουν "
              "από τον επόμενο μήνα και αφορούν κυρίως τα βασικά είδη διατροφής."),
    "japanese": ("探査機が火星に着陸しました",
                 "宇宙航空研究開発機構は、探査機が予定どおり火星の表面に着陸したと発表しました。今後は"
                 "地表の写真を撮影し、水の痕跡を調べる予定です。研究者たちは大きな成果を期待しています。"),
    "chinese": ("探测器成功着陆火星",
                "国家航天局今天宣布，探测器已按计划在火星表面着陆。接下来将拍摄地表照片，并寻找水的痕迹。"
                "科学家们对这次任务寄予厚望，认为这将推动行星科学的发展。"),
    "traditional": ("探測器成功著陸火星",
                    "國家航天局今天宣布，探測器已按計劃在火星表面著陸。接下來將拍攝地表照片，並尋找水的痕跡。"
                    "科學家們對這次任務寄予厚望，認為這將推動行星科學的發展。"),
    "korean": ("탐사선이 화성에 착륙했습니다",
               "우주항공청은 탐사선이 예정대로 화성 표면에 착륙했다고 밝혔습니다. 앞으로 표면 사진을 "
               "촬영하고 물의 흔적을 조사할 계획입니다. 연구자들은 큰 성과를 기대하고 있습니다."),
    "hebrew": ("הגשושית נחתה על מאדים",
               "סוכנות החלל הודיעה היום כי הגשושית נחתה כמתוכנן על פני המאדים. בהמשך היא תצלם את פני "
               "השטח ותחפש סימנים של מים. המדענים מקווים לתוצאות חשובות."),
}

# (encoding, text): every declared encoding a feed in the wild uses, with a text it can carry.
DECLARED = [
    ("windows-1252", "french"), ("iso-8859-1", "portuguese"), ("iso-8859-15", "german"), ("iso-8859-2", "polish"),
    ("windows-1250", "polish"), ("koi8-r", "russian"), ("windows-1251", "russian"), ("iso-8859-5", "russian"),
    ("iso-8859-7", "greek"), ("shift_jis", "japanese"), ("euc-jp", "japanese"), ("iso-2022-jp", "japanese"),
    ("gb2312", "chinese"), ("gbk", "chinese"), ("gb18030", "chinese"), ("big5", "traditional"), ("euc-kr", "korean"),
    ("windows-1255", "hebrew"), ("utf-8", "japanese"),
]
# What detection must get right when nothing is declared: the common legacy encodings.
UNDECLARED = [
    ("windows-1252", "french"), ("windows-1252", "portuguese"), ("windows-1252", "german"),
    ("windows-1251", "russian"), ("koi8-r", "russian"), ("shift_jis", "japanese"), ("euc-jp", "japanese"),
    ("gb18030", "chinese"), ("big5", "traditional"), ("euc-kr", "korean"), ("iso-8859-7", "greek"),
    ("windows-1255", "hebrew"),
]


def feed_xml(language: str, *, encoding: str | None) -> str:
    title, text = TEXTS[language]
    declaration = f'<?xml version="1.0" encoding="{encoding}"?>\n' if encoding else ""
    return (f'{declaration}<rss version="2.0"><channel><title>{title[:12]}</title><link>https://news.example/</link>'
            f"<item><title>{title}</title><link>https://news.example/1</link>"
            f"<description>&lt;p&gt;{text}&lt;/p&gt;</description></item>"
            f"<item><title>{text[:60]}</title><link>https://news.example/2</link>"
            f"<description>{text[60:]}</description></item></channel></rss>")


def read(body: bytes, content_type: str | None = None):  # type: ignore[no-untyped-def]
    parsed = parse_feed(body, "https://news.example/feed", content_type=content_type)
    return parsed, [(e.title, e.summary_html) for e in parsed.entries]


def written(language: str) -> list[tuple[str, str]]:
    title, text = TEXTS[language]
    return [(title, f"<p>{text}</p>"), (text[:60].strip(), text[60:].strip())]


@pytest.mark.parametrize("encoding,language", DECLARED)
def test_a_feed_declaring_its_encoding_in_the_xml_declaration_reads_as_written(encoding, language):
    parsed, entries = read(feed_xml(language, encoding=encoding).encode(encoding))
    assert entries == written(language)
    assert parsed.title == TEXTS[language][0][:12] and parsed.problem == ""


@pytest.mark.parametrize("encoding,language", DECLARED)
def test_a_feed_declared_only_by_its_content_type_reads_as_written(encoding, language):
    body = feed_xml(language, encoding=None).encode(encoding)
    for media_type in ("application/rss+xml", "text/xml", "application/xml"):
        parsed, entries = read(body, f'{media_type}; charset="{encoding}"')
        assert entries == written(language), media_type
        assert parsed.problem == ""


@pytest.mark.parametrize("encoding,language", UNDECLARED)
def test_an_undeclared_legacy_encoding_is_detected(encoding, language):
    parsed, entries = read(feed_xml(language, encoding=None).encode(encoding), "application/rss+xml")
    assert entries == written(language)
    assert "no usable declared encoding; detected" in parsed.problem


@pytest.mark.parametrize("bom,encoding", [
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
])
def test_a_byte_order_mark_beats_the_header_and_the_declaration(bom, encoding):
    body = bom + feed_xml("russian", encoding="windows-1251").encode(encoding)
    parsed, entries = read(body, "application/rss+xml; charset=iso-8859-1")
    assert entries == written("russian")
    assert parsed.encoding == codecs.lookup(encoding).name and parsed.problem == ""


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_without_a_byte_order_mark_are_recognised_by_their_layout(encoding):
    label = encoding[:6]  # "utf-16": the layout, not the label, says which end comes first
    parsed, entries = read(feed_xml("greek", encoding=label).encode(encoding))
    assert entries == written("greek") and parsed.encoding == encoding


def test_the_content_type_charset_beats_the_xml_declaration():
    # Both decode these bytes; RFC 7303: the header is the authority.
    body = feed_xml("russian", encoding="koi8-r").encode("windows-1251")
    parsed, entries = read(body, "text/xml; charset=windows-1251")
    assert entries == written("russian") and parsed.encoding == "cp1251"


def test_text_xml_without_a_charset_follows_the_declaration_not_us_ascii():
    # RFC 3023 said us-ascii; RFC 7303 (which obsoletes it) says: as application/xml.
    parsed, entries = read(feed_xml("russian", encoding="koi8-r").encode("koi8-r"), "text/xml")
    assert entries == written("russian") and parsed.encoding == "koi8-r" and parsed.problem == ""


def test_a_utf8_feed_served_as_latin1_is_read_as_utf8():
    body = feed_xml("french", encoding=None).encode("utf-8")
    parsed, entries = read(body, "text/xml; charset=ISO-8859-1")
    assert entries == written("french")
    assert parsed.encoding == "utf-8" and "declared 'ISO-8859-1', but the bytes are UTF-8" in parsed.problem


def test_a_utf8_declaration_on_windows_1252_bytes_is_overruled_by_detection():
    parsed, entries = read(feed_xml("german", encoding="utf-8").encode("windows-1252"))
    assert entries == written("german")
    assert "the bytes are not utf-8 as the XML declaration says" in parsed.problem


def test_iso_8859_1_with_windows_1252_quotes_reads_as_browsers_read_it():
    body = feed_xml("french", encoding="iso-8859-1").encode("windows-1252")  # ’ « » are 0x92, 0xAB, 0xBB
    parsed, entries = read(body)
    assert entries == written("french") and parsed.encoding == "cp1252"


def test_us_ascii_with_high_bytes_is_windows_1252():
    parsed, entries = read(feed_xml("portuguese", encoding=None).encode("windows-1252"), "text/xml; charset=us-ascii")
    assert entries == written("portuguese")


def test_an_unknown_or_unsafe_label_is_ignored_and_the_text_detected():
    for label in ("bogus", "base64", "utf-7", "x-unknown"):
        body = feed_xml("russian", encoding=label).encode("koi8-r")
        parsed, entries = read(body, f"application/rss+xml; charset={label}")
        assert entries == written("russian"), label
        assert f"names no known encoding ({label!r})" in parsed.problem


def test_a_sixteen_bit_label_on_eight_bit_bytes_is_ignored():
    parsed, entries = read(feed_xml("german", encoding="utf-16").encode("windows-1252"),
                           "application/xml; charset=utf-16")
    assert entries == written("german")
    assert "says utf-16, but the bytes are 8-bit" in parsed.problem


def test_a_utf8_feed_with_a_stray_latin1_line_keeps_both():
    good = feed_xml("japanese", encoding="utf-8").encode("utf-8")
    body = good.replace(b"<channel>", "<channel><copyright>© Société</copyright>".encode("latin-1"))
    parsed, entries = read(body)
    assert entries == written("japanese")
    assert parsed.encoding == "utf-8" and "3 bytes that are not UTF-8 read as windows-1252" in parsed.problem
    assert decode_xml(body).text.count("© Société") == 1


def test_white_space_before_the_declaration_does_not_make_a_feed_malformed():
    parsed, entries = read(b"\n\n  " + feed_xml("greek", encoding="iso-8859-7").encode("iso-8859-7"))
    assert entries == written("greek") and parsed.problem == ""


def test_a_json_feed_with_a_utf16_byte_order_mark_reads_as_written():
    body = codecs.BOM_UTF16_LE + json_feed([{"id": "1", "url": "https://j.example/1", "title": "Ракета"}]).encode(
        "utf-16-le")
    assert [e.title for e in parse_feed(body, "https://j.example/feed").entries] == ["Ракета"]


def test_random_bytes_and_labels_never_raise_anything_but_feed_error():
    rng = random.Random(9)
    labels = [None, "text/xml", "application/rss+xml; charset=utf-16", "text/html; charset=koi8-r",
              "application/xml; charset=bogus", "text/xml; charset=\x00", "application/xml; charset=utf-32"]
    base = feed_xml("french", encoding="utf-8").encode("utf-8")
    for _ in range(400):
        body = bytearray(base)
        for _ in range(rng.randint(1, 30)):
            body[rng.randrange(len(body))] = rng.randrange(256)
        prefix = rng.choice([b"", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, b"\x00<\x00?", b"<\x00\x00\x00"])
        try:
            parse_feed(prefix + bytes(body), "https://r.example/feed", content_type=rng.choice(labels))
        except FeedError:
            pass


def test_the_charset_of_a_real_http_response_decides(store, settings, server):
    body = feed_xml("russian", encoding="koi8-r").encode("windows-1251")
    add(store, "cyr", server.route("/cyr", body, headers={"Content-Type": "application/rss+xml; charset=windows-1251"}))
    assert collect_feed(store, settings, "cyr").new == 2
    titles = sorted(a.title for a in of_feed(store, "cyr"))
    assert titles == sorted([TEXTS["russian"][0], TEXTS["russian"][1][:60].strip()])
