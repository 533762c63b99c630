"""Bytes to entries: RSS 0.9x/1.0/2.0 and Atom through feedparser, JSON Feed through json.

Everything becomes one shape, RawEntry, before cleaning. Bytes that are not a
feed raise FeedError naming the URL and what was wrong; nothing else escapes.
"""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import feedparser

from digest.errors import FeedError

JSON_FEED_VERSIONS = ("https://jsonfeed.org/version/1", "https://jsonfeed.org/version/1.1")


@dataclass
class RawEntry:
    title: str = ""
    link: str = ""
    guid: str = ""
    published: datetime | None = None
    author: str = ""
    summary_html: str = ""
    content_html: str = ""
    image: str | None = None
    categories: list[str] = field(default_factory=list)


@dataclass
class ParsedFeed:
    title: str
    format: str
    entries: list[RawEntry]


def parse_feed(content: bytes, url: str) -> ParsedFeed:
    if not content or not content.strip():
        raise FeedError(f"{url}: empty response, not a feed")
    head = content.lstrip()[:1]
    if head in (b"{", b"["):
        return _parse_json_feed(content, url)
    try:
        parsed = feedparser.parse(content, response_headers={"content-location": url})
    except Exception as exc:  # feedparser can raise on pathological input
        raise FeedError(f"{url}: could not be parsed: {type(exc).__name__}: {exc}") from None
    if not parsed.get("version") and not parsed.entries:
        reason = parsed.get("bozo_exception") or "no RSS, Atom or JSON Feed found"
        raise FeedError(f"{url}: not a feed ({reason})")
    entries = [_from_feedparser(e) for e in parsed.entries]
    return ParsedFeed(parsed.feed.get("title", ""), parsed.get("version") or "unknown", entries)


def _when(struct: Any) -> datetime | None:
    if not struct:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(struct), timezone.utc)
    except (OverflowError, ValueError, TypeError):
        return None


def _image(e: Any) -> str | None:
    for media in e.get("media_content") or []:
        url = media.get("url")
        if url and (media.get("medium") == "image" or str(media.get("type", "")).startswith("image/")
                    or not media.get("type")):
            return str(url)
    for thumb in e.get("media_thumbnail") or []:
        if thumb.get("url"):
            return str(thumb["url"])
    for link in e.get("links") or []:
        if link.get("rel") == "enclosure" and str(link.get("type", "")).startswith("image/"):
            return str(link.get("href"))
    image = e.get("image")
    if isinstance(image, dict) and image.get("href"):
        return str(image["href"])
    return None


def _from_feedparser(e: Any) -> RawEntry:
    content = e.get("content") or []
    html_parts = [c.get("value", "") for c in content if "html" in str(c.get("type", "html"))]
    return RawEntry(
        title=str(e.get("title", "")).strip(),
        link=str(e.get("link", "")).strip(),
        guid=str(e.get("id", "")).strip(),
        published=_when(e.get("published_parsed") or e.get("updated_parsed") or e.get("created_parsed")),
        author=str(e.get("author", "")).strip(),
        summary_html=str(e.get("summary", "")),
        content_html=html_parts[0] if html_parts else "",
        image=_image(e),
        categories=[str(t.get("term")).strip() for t in e.get("tags") or [] if t.get("term")],
    )


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def _parse_json_feed(content: bytes, url: str) -> ParsedFeed:
    try:
        doc = json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FeedError(f"{url}: invalid JSON ({exc})") from None
    if not isinstance(doc, dict) or "jsonfeed.org/version/" not in str(doc.get("version", "")):
        raise FeedError(f"{url}: JSON, but not a JSON Feed (no jsonfeed.org version)")
    items = doc.get("items")
    if not isinstance(items, list):
        raise FeedError(f"{url}: JSON Feed without an items list")
    entries = []
    for item in items:
        if not isinstance(item, dict):
            continue
        authors = item.get("authors") or ([item["author"]] if isinstance(item.get("author"), dict) else [])
        text = item.get("content_text")
        entries.append(RawEntry(
            title=str(item.get("title") or "").strip(),
            link=str(item.get("url") or item.get("external_url") or "").strip(),
            guid=str(item.get("id") or "").strip(),
            published=_iso(item.get("date_published")) or _iso(item.get("date_modified")),
            author=", ".join(str(a.get("name")) for a in authors if isinstance(a, dict) and a.get("name")),
            summary_html=str(item.get("summary") or ""),
            content_html=str(item.get("content_html") or (f"<p>{_escape(text)}</p>" if text else "")),
            image=item.get("image") or item.get("banner_image") or None,
            categories=[str(t) for t in item.get("tags") or [] if isinstance(t, str)],
        ))
    return ParsedFeed(str(doc.get("title") or ""), "json" + str(doc["version"]).rsplit("/", 1)[-1], entries)


def _escape(text: str) -> str:
    import html

    return html.escape(str(text))
