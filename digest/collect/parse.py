"""Bytes to entries: RSS 0.9x/1.0/2.0 and Atom through feedparser, JSON Feed through json.

Everything becomes one shape, RawEntry, before cleaning. Bytes that are not a
feed raise FeedError naming the URL and what was wrong; nothing else escapes.
So does XML that would cost feedparser more than a few seconds of CPU (too many
elements, a malformed document too long to read twice): digest.collect.markup
counts it first.
XML feeds are decoded by digest.collect.encoding (byte order mark, then UTF-8
that is valid, then the Content-Type charset, then the XML declaration, then a
guess) and handed to feedparser as UTF-8; JSON Feeds use the header's charset,
a byte order mark winning. What was guessed or overruled, and what feedparser
found malformed in a feed it still read, is ParsedFeed.problem. Every field
of a JSON Feed is type-checked: a field of the wrong type is ignored, never
turned into text with str().
"""

from __future__ import annotations

import calendar
import html
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import feedparser

from digest.collect.clean import is_pixel_image
from digest.collect.encoding import BOMS, codec_name, decode_xml, header_charset
from digest.collect.fanout import cpu_turn
from digest.collect.markup import readable_part
from digest.errors import FeedError

JSON_FEED_VERSIONS = ("https://jsonfeed.org/version/1", "https://jsonfeed.org/version/1.1")
# What feedparser is told about the bytes it gets: they are UTF-8, decoded here.
_AS_DECODED = "application/xml; charset=utf-8"
# feedparser's notes that are not errors: it decoded or parsed anyway.
_BENIGN = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
_ERROR_CHARS = 300  # of an exception's message quoted in a feed's error


@dataclass
class RawEntry:
    title: str = ""
    link: str = ""
    guid: str = ""
    published: datetime | None = None
    author: str = ""
    summary_html: str = ""
    content_html: str = ""
    # What relative links and images in summary_html and content_html are relative to (the
    # feed's URL or an xml:base); "" for none: they are dropped (digest.collect.clean.sanitize_html).
    summary_base: str = ""
    content_base: str = ""
    image: str | None = None
    categories: list[str] = field(default_factory=list)


@dataclass
class ParsedFeed:
    title: str
    format: str
    entries: list[RawEntry]
    encoding: str = "utf-8"  # the codec the text was read in
    problem: str = ""  # what was wrong with a feed that was still read (digest's "bozo"); "" if nothing
    # What an RSS feed asks of its readers (digest.collect.politeness): <ttl> in minutes,
    # <skipHours> (UTC hours, 0-23) and <skipDays> (0 = Monday).
    ttl_minutes: int | None = None
    skip_hours: frozenset[int] = frozenset()
    skip_days: frozenset[int] = frozenset()


def parse_feed(content: bytes, url: str, *, content_type: str | None = None) -> ParsedFeed:
    """The entries of a feed; `content_type` is the HTTP Content-Type header, if any."""
    if not content or not content.strip():
        raise FeedError(f"{url}: empty response, not a feed")
    if _first_char(content) in ("{", "["):
        return _parse_json_feed(content, url, content_type)
    decoded = decode_xml(content, content_type)
    problems = [decoded.problem] if decoded.problem else []
    media_type = _media_type(content_type)
    if media_type and not _is_xml_type(media_type):
        problems.append(f"served as {media_type}, not an XML media type")
    headers = {"content-location": url, "content-type": _AS_DECODED}
    try:
        # nh3 sanitizes later; feedparser's own sanitizer would first strip the CSS
        # (visibility, opacity, max-width) that shows an image is a tracking pixel. Relative
        # links are resolved there too, on the tree it parses anyway, against each entry's
        # base: feedparser's resolving pass parses and rewrites every entry's HTML once more
        # (two fifths of its time on the bench's feeds).
        with cpu_turn():
            data = _xml_start(decoded.text).encode("utf-8", "replace")
            data, cut = readable_part(data, headers, url)  # FeedError for a document too costly to read
            if cut:
                problems.append(cut)
            parsed = feedparser.parse(data, response_headers=headers, sanitize_html=False,
                                      resolve_relative_uris=False)
            entries = [_from_feedparser(e) for e in parsed.entries]
    except FeedError:
        raise
    except RecursionError:
        raise FeedError(f"{url}: nested too deeply to be a feed") from None
    except Exception as exc:  # feedparser can raise on pathological input
        raise FeedError(f"{url}: could not be parsed: {type(exc).__name__}: {_short(exc)}") from None
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if not parsed.get("version") and not entries:
        raise FeedError(f"{url}: not a feed ({_short(problem or 'no RSS, Atom or JSON Feed found')})")
    if problem is not None and not isinstance(problem, _BENIGN) and not entries:
        # A truncated or malformed feed that yields nothing is an error, not "ok, 0 items";
        # one that still yields entries keeps them.
        raise FeedError(f"{url}: malformed feed, no entries read ({_short(problem)})")
    if problem is not None and not isinstance(problem, _BENIGN):
        problems.append(f"malformed, read leniently ({_short(problem)})")
    title = parsed.feed.get("title", "")
    return ParsedFeed(title if isinstance(title, str) else "", parsed.get("version") or "unknown", entries,
                      encoding=decoded.encoding, problem="; ".join(problems),
                      **_reading_hints(parsed.feed.get("ttl"), decoded.text))


_SKIP = re.compile(r"<(skiphours|skipdays)\b[^>]{0,200}>(.{0,4000}?)</\1\s*>", re.IGNORECASE | re.DOTALL)
_SKIP_VALUE = re.compile(r"<(hour|day)\b[^>]{0,200}>\s*([^<\s]{1,20})\s*</\1\s*>", re.IGNORECASE)
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _reading_hints(ttl: object, text: str) -> dict[str, Any]:
    """RSS <ttl>, <skipHours> and <skipDays>. feedparser keeps only the last <hour> and
    <day>, so those two are read from the text (bounded patterns: no backtracking blow-up)."""
    ttl = ttl.strip() if isinstance(ttl, str) else ""
    minutes = int(ttl) if ttl.isascii() and ttl.isdigit() and len(ttl) <= 7 and int(ttl) > 0 else None
    hours: set[int] = set()
    days: set[int] = set()
    for block in _SKIP.finditer(text):
        for _tag, value in _SKIP_VALUE.findall(block.group(2)):
            value = value.lower()
            if value.isascii() and value.isdigit() and int(value) <= 24:
                hours.add(int(value) % 24)  # RSS 0.91 counted 1-24
            elif value in _DAYS:
                days.add(_DAYS.index(value))
    return {"ttl_minutes": minutes, "skip_hours": frozenset(hours), "skip_days": frozenset(days)}


def _xml_start(text: str) -> str:
    """The document from its XML declaration on: white space or a stray BOM before it would make
    feedparser add a second declaration, and the strict parser give up on the whole feed."""
    stripped = text.lstrip("\ufeff \t\r\n")
    return stripped if stripped.startswith("<?xml") else text.lstrip("\ufeff")


def _short(problem: object) -> str:
    text = str(problem)
    return text if len(text) <= _ERROR_CHARS else text[:_ERROR_CHARS] + "…"


def _first_char(content: bytes) -> str:
    """The first character that is not white space, decoding a byte order mark if there is one."""
    for bom, encoding in BOMS:
        if content.startswith(bom):
            return content[len(bom) : len(bom) + 256].decode(encoding, "ignore").lstrip()[:1]
    return content.lstrip()[:1].decode("latin-1")


def _charset(content_type: str | None) -> str | None:
    """The charset of a Content-Type header when Python can decode it; else None."""
    return codec_name(header_charset(content_type))


def _media_type(content_type: str | None) -> str | None:
    if not content_type or not content_type.isascii() or any(ch in content_type for ch in "\r\n\0"):
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def _is_xml_type(media_type: str) -> bool:
    """RFC 7303's XML types, text/ and application/ alike, and every +xml type."""
    return media_type.endswith("+xml") or media_type.partition("/")[2] in (
        "xml", "xml-dtd", "xml-external-parsed-entity")


def _when(struct: Any) -> datetime | None:
    if not struct:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(struct), timezone.utc)
    except (OverflowError, ValueError, TypeError, OSError):
        return None


def _image(e: Any) -> str | None:
    """The entry's own image field, unless it is a pixel or a tracker."""
    for media in e.get("media_content") or []:
        url = media.get("url")
        if url and (media.get("medium") == "image" or str(media.get("type", "")).startswith("image/")
                    or not media.get("type")):
            if not is_pixel_image(url, media.get("width"), media.get("height")):
                return str(url)
    for thumb in e.get("media_thumbnail") or []:
        if thumb.get("url") and not is_pixel_image(thumb["url"], thumb.get("width"), thumb.get("height")):
            return str(thumb["url"])
    for link in e.get("links") or []:
        if link.get("rel") == "enclosure" and str(link.get("type", "")).startswith("image/"):
            if link.get("href") and not is_pixel_image(link["href"]):
                return str(link["href"])
    image = e.get("image")
    if isinstance(image, dict) and image.get("href") and not is_pixel_image(image["href"]):
        return str(image["href"])
    return None


# The content types feedparser resolved links in (its html_types): not in text.
_HTML_TYPES = ("text/html", "application/xhtml+xml")


def _base(detail: Any) -> str:
    """What links in a summary or content are relative to: its xml:base or the feed's URL, if it is HTML."""
    if not isinstance(detail, dict) or detail.get("type") not in _HTML_TYPES:
        return ""
    base = detail.get("base")
    return base if isinstance(base, str) else ""


# A numeric character reference, with or without its ";" (as HTML reads them).
_CHARREF = re.compile(r"&#([0-9]{1,8}|[xX][0-9a-fA-F]{1,7});?")


def _html(detail: Any, value: str) -> str:
    """A summary's or content's HTML with windows-1252's C1 references as what they mean there ("&#146;":
    "&#x2019;"), as browsers read them and as feedparser's resolving pass wrote them."""
    if "&#" not in value or not isinstance(detail, dict) or detail.get("type") not in _HTML_TYPES:
        return value
    return _CHARREF.sub(_cp1252_ref, value)


def _cp1252_ref(match: re.Match[str]) -> str:
    ref = match[1]
    code = int(ref[1:], 16) if ref[0] in "xX" else int(ref)
    if not 0x80 <= code <= 0x9F:
        return match[0]
    char = bytes([code]).decode("cp1252", "ignore")  # five of the 32 are undefined: kept as they are
    return f"&#x{ord(char):x};" if char else match[0]


def _from_feedparser(e: Any) -> RawEntry:
    content = e.get("content") or []
    html_parts = [c for c in content if "html" in str(c.get("type", "html"))]
    summary = str(e.get("summary", ""))
    # An Atom entry without a summary gets its content's as one, with no detail of its own.
    summary_detail = e.get("summary_detail") or next((c for c in content if c.get("value") == summary), None)
    return RawEntry(
        title=str(e.get("title", "")).strip(),
        link=str(e.get("link", "")).strip(),
        guid=str(e.get("id", "")).strip(),
        published=_when(e.get("published_parsed") or e.get("updated_parsed") or e.get("created_parsed")),
        author=str(e.get("author", "")).strip(),
        summary_html=_html(summary_detail, summary),
        content_html=_html(html_parts[0], html_parts[0].get("value", "")) if html_parts else "",
        summary_base=_base(summary_detail),
        content_base=_base(html_parts[0]) if html_parts else "",
        image=_image(e),
        categories=[str(t.get("term")).strip() for t in e.get("tags") or [] if t.get("term")],
    )


# -- JSON Feed ----------------------------------------------------------------------------


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None


def _text(value: Any) -> str:
    """A string field: a string, else nothing."""
    return value if isinstance(value, str) else ""


def _json_id(value: Any) -> str:
    """JSON Feed says a reader must coerce an id that is a number to a string; nothing else is an id."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return ""


def _json_authors(item: dict[str, Any]) -> str:
    authors = item.get("authors")
    if not isinstance(authors, list):
        authors = [item["author"]] if isinstance(item.get("author"), dict) else []
    names = [a["name"].strip() for a in authors if isinstance(a, dict) and isinstance(a.get("name"), str)]
    return ", ".join(n for n in names if n)


def _json_image(item: dict[str, Any]) -> str | None:
    candidates = [_text(item.get("image")), _text(item.get("banner_image"))]
    attachments = item.get("attachments")
    for attachment in attachments if isinstance(attachments, list) else []:
        if isinstance(attachment, dict) and _text(attachment.get("mime_type")).startswith("image/"):
            candidates.append(_text(attachment.get("url")))
    return next((c.strip() for c in candidates if c.strip() and not is_pixel_image(c)), None)


def _json_text(content: bytes, content_type: str | None) -> str:
    """The JSON text: a byte order mark decides, else the header's charset, else JSON's own rules."""
    for bom, encoding in BOMS:
        if content.startswith(bom):
            return content[len(bom) :].decode(encoding, "replace")
    charset = _charset(content_type)
    text = content.decode(charset or json.detect_encoding(content), "replace")
    return text.lstrip("\ufeff")


def _parse_json_feed(content: bytes, url: str, content_type: str | None) -> ParsedFeed:
    try:
        # strict=False: control characters inside strings are allowed here, and removed when cleaning
        doc = json.loads(_json_text(content, content_type), strict=False)
    except RecursionError:
        raise FeedError(f"{url}: invalid JSON (nested too deeply)") from None
    except (ValueError, UnicodeDecodeError, LookupError) as exc:
        raise FeedError(f"{url}: invalid JSON ({_short(exc)})") from None
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, str) or "jsonfeed.org/version/" not in version:
        raise FeedError(f"{url}: JSON, but not a JSON Feed (no jsonfeed.org version)")
    items = doc.get("items")
    if not isinstance(items, list):
        raise FeedError(f"{url}: JSON Feed without an items list")
    entries = []
    for item in items:
        if not isinstance(item, dict):
            continue
        text = _text(item.get("content_text"))
        tags = item.get("tags")
        entries.append(RawEntry(
            title=_text(item.get("title")).strip(),
            link=(_text(item.get("url")) or _text(item.get("external_url"))).strip(),
            guid=_json_id(item.get("id")),
            published=_iso(item.get("date_published")) or _iso(item.get("date_modified")),
            author=_json_authors(item),
            summary_html=_text(item.get("summary")),
            content_html=_text(item.get("content_html")) or (f"<p>{html.escape(text)}</p>" if text else ""),
            image=_json_image(item),
            categories=[t.strip() for t in tags if isinstance(t, str) and t.strip()] if isinstance(tags, list) else [],
        ))
    return ParsedFeed(_text(doc.get("title")), "json" + version.rsplit("/", 1)[-1], entries)
