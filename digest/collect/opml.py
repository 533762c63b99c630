"""OPML: feed lists in and out, as every feed reader exports and imports them.

Reading: the bytes are decoded like a feed (digest.collect.encoding), a document
with a DOCTYPE is refused outright (entity declarations are how "billion laughs"
and external-entity reads work, and OPML needs none), and lxml parses the rest
with entities unresolved, no DTD and no network; malformed XML is read
leniently, and said so. Each outline with an xmlUrl is a feed; outlines around
it are its categories (folders), with its own `category` attribute. An outline
with a bad URL, a repeat of an earlier one or of a feed digest already has, is
reported by its line and title, and the rest are kept.

Writing: OPML 2.0, one folder outline per first category, every feed with its
title as `text` and `title`, `type="rss"` and its `xmlUrl`. Newsletters have no
feed URL and are left out.
"""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime

from lxml import etree

from digest.collect.clean import canonical_url, http_url, one_line, strip_controls
from digest.collect.encoding import decode_xml
from digest.errors import InvalidInput
from digest.models import Feed
from digest.store import Store

MAX_OUTLINES = 10_000
MAX_DEPTH = 50
TITLE_MAX_CHARS = 200
CATEGORY_MAX_CHARS = 100
MAX_CATEGORIES = 10
_DOCTYPE = re.compile(r"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
_BARE_AMPERSAND = re.compile(rb"&(?!#[0-9]{1,7};|#x[0-9a-fA-F]{1,6};|[A-Za-z][A-Za-z0-9]{0,30};)")
_DECLARATION = re.compile(r"\A\s*<\?xml[^>]*\?>")


@dataclass
class OutlineFeed:
    url: str
    title: str
    categories: list[str] = field(default_factory=list)
    line: int = 0


@dataclass
class OpmlDocument:
    title: str
    feeds: list[OutlineFeed]
    problems: list[str]  # one line per outline not kept, and what was wrong with the file


@dataclass
class OpmlImport:
    added: list[Feed]
    problems: list[str]


def read_opml(content: bytes, source: str) -> OpmlDocument:
    """The feeds an OPML document lists; InvalidInput when it is not OPML or is refused."""
    text = decode_xml(content).text.lstrip("\ufeff")
    if _DOCTYPE.search(text):
        raise InvalidInput(f"{source}: refused: a DOCTYPE or entity declaration (OPML needs none; "
                           "entities are how XML bombs and external-file reads work)")
    data = _DECLARATION.sub("", text, count=1).encode("utf-8", "replace")
    problems = []
    try:
        root = etree.fromstring(data, _parser(recover=False))
    except etree.XMLSyntaxError as exc:
        # The commonest breakage: a bare "&" in a URL or a title. Then libxml2's own recovery.
        data = _BARE_AMPERSAND.sub(b"&amp;", data)
        root = etree.fromstring(data, _parser(recover=True)) if data.strip() else None
        if root is None:
            raise InvalidInput(f"{source}: not XML ({exc})") from None
        problems.append(f"{source}: malformed XML, read leniently ({exc})")
    if not isinstance(root.tag, str) or etree.QName(root).localname.lower() != "opml":
        raise InvalidInput(f"{source}: not OPML (the document is <{_name(root)}>, not <opml>)")
    title = " ".join(root.findtext("head/title", "").split())
    body = next((e for e in root if isinstance(e.tag, str) and etree.QName(e).localname.lower() == "body"), None)
    if body is None:
        raise InvalidInput(f"{source}: OPML without a <body>")
    feeds: list[OutlineFeed] = []
    seen: dict[str, OutlineFeed] = {}
    for outline, folders in _outlines(body, [], 0, problems):
        feed = _feed_of(outline, folders, problems)
        if feed is None:
            continue
        first = seen.get(canonical_url(feed.url))
        if first is not None:
            problems.append(f"line {feed.line} ({feed.title!r}): the same feed as line {first.line} ({first.title!r})")
            continue
        seen[canonical_url(feed.url)] = feed
        feeds.append(feed)
    return OpmlDocument(title, feeds, problems)


def _parser(*, recover: bool) -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_comments=True, remove_pis=True, recover=recover)


def _name(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else "?"


def _outlines(
    parent: etree._Element, folders: list[str], depth: int, problems: list[str], counted: list[int] | None = None,
) -> Iterator[tuple[etree._Element, list[str]]]:
    """Every outline under `parent` with the folder titles around it, depth-first, within the caps."""
    counted = counted if counted is not None else [0]
    for outline in parent:
        if not isinstance(outline.tag, str) or etree.QName(outline).localname.lower() != "outline":
            continue
        counted[0] += 1
        if counted[0] > MAX_OUTLINES:
            problems.append(f"more than {MAX_OUTLINES} outlines: the rest not read")
            return
        yield outline, folders
        if len(outline) and depth < MAX_DEPTH:
            yield from _outlines(outline, [*folders, _title(outline)], depth + 1, problems, counted)


def _attributes(outline: etree._Element) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in outline.attrib.items()}


def _title(outline: etree._Element) -> str:
    attributes = _attributes(outline)
    return one_line(attributes.get("title") or attributes.get("text") or "", TITLE_MAX_CHARS)


def _feed_of(outline: etree._Element, folders: list[str], problems: list[str]) -> OutlineFeed | None:
    """The feed an outline names, or None (a folder, or a bad URL: reported)."""
    attributes = _attributes(outline)
    raw = attributes.get("xmlurl") or (attributes.get("url") if attributes.get("type", "").lower() in (
        "rss", "atom", "feed") else "")
    title = _title(outline)
    where = f"line {outline.sourceline} ({title!r})" if title else f"line {outline.sourceline}"
    if not raw or not raw.strip():
        if not len(outline) and attributes.get("type", "").lower() in ("rss", "atom", "feed"):
            problems.append(f"{where}: a feed outline without an xmlUrl")
        return None
    url = http_url(strip_controls(raw).strip())
    if not url:
        problems.append(f"{where}: {one_line(raw, 120)!r} is not an http(s) URL")
        return None
    named = [c for c in (one_line(c.strip().strip("/"), CATEGORY_MAX_CHARS)
                         for c in attributes.get("category", "").split(",")) if c]
    categories = list(dict.fromkeys(c for c in [*folders, *named] if c))[:MAX_CATEGORIES]
    return OutlineFeed(url, title, categories, outline.sourceline or 0)


# -- into the store -------------------------------------------------------------------------


def import_feeds(store: Store, document: OpmlDocument) -> OpmlImport:
    """Add the document's feeds that digest does not have yet, each under a new id made from its title."""
    existing = store.feeds()
    taken = {f.id for f in existing}
    known = {canonical_url(f.url): f.id for f in existing if f.url}
    added, problems = [], list(document.problems)
    for outline in document.feeds:
        where = f"line {outline.line} ({outline.title!r})" if outline.title else f"line {outline.line}"
        same = known.get(canonical_url(outline.url))
        if same:
            problems.append(f"{where}: already a feed ({same})")
            continue
        feed_id = _new_id(outline, taken)
        try:
            feed = Feed(id=feed_id, url=outline.url, name=outline.title, categories=outline.categories)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            problems.append(f"{where}: {one_line(str(exc), 200)}")
            continue
        store.add_feed(feed)
        taken.add(feed_id)
        known[canonical_url(outline.url)] = feed_id
        added.append(feed)
    return OpmlImport(added, problems)


def _new_id(outline: OutlineFeed, taken: set[str]) -> str:
    """A slug from the title, else from the host; -2, -3, ... when taken."""
    ascii_title = unicodedata.normalize("NFKD", outline.title).encode("ascii", "ignore").decode()
    host = (outline.url.split("/")[2] if outline.url.count("/") >= 2 else "").removeprefix("www.")
    for source in (ascii_title, host.split(":")[0], "feed"):
        base = re.sub(r"[^a-z0-9]+", "-", source.lower()).strip("-")[:50].strip("-")
        if base:
            break
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base[: 60 - len(str(n))]}-{n}"
    return candidate


# -- out ------------------------------------------------------------------------------------


def export_opml(feeds: list[Feed], *, title: str, now: datetime) -> bytes:
    """OPML 2.0 of these feeds (newsletters left out), folders by first category."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = _xml_text(title)
    ET.SubElement(head, "dateCreated").text = format_datetime(now, usegmt=True)
    body = ET.SubElement(root, "body")
    folders: dict[str, ET.Element] = {}
    for feed in feeds:
        if feed.kind != "feed" or not feed.url:
            continue
        categories = getattr(feed, "categories", []) or []
        parent = body
        if categories:
            name = _xml_text(categories[0])
            if name not in folders:
                folders[name] = ET.SubElement(body, "outline", text=name, title=name)
            parent = folders[name]
        name = _xml_text(feed.name or feed.id)
        attributes = {"type": "rss", "text": name, "title": name, "xmlUrl": _xml_text(feed.url)}
        if len(categories) > 1:
            attributes["category"] = ",".join("/" + _xml_text(c).replace(",", " ") for c in categories[1:])
        ET.SubElement(parent, "outline", attributes)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _xml_text(value: str) -> str:
    """Text XML 1.0 can carry: no control characters (ElementTree would write them as they are)."""
    return " ".join(strip_controls(value).replace("\ufffe", "").replace("\uffff", "").split())
