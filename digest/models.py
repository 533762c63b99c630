"""The nouns of digest, validated once at the edge and stored as JSON in Redis."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from pydantic import BaseModel, Field, field_validator

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MORE_NEWS = "more"  # the pseudo-topic that collects what matches no topic
LOCALES = ("en", "es", "fr", "de")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def check_slug(value: str) -> str:
    if not SLUG.match(value):
        raise ValueError(
            f"{value!r} is not a valid id: use lower-case letters, digits and dashes"
        )
    return value


class Feed(BaseModel):
    id: str
    url: str
    name: str = ""

    _id = field_validator("id")(classmethod(lambda cls, v: check_slug(v)))

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value


class FeedState(BaseModel):
    """What the collector remembers about a feed between fetches."""

    etag: str | None = None
    last_modified: str | None = None
    last_fetched_at: datetime | None = None
    last_ok_at: datetime | None = None
    error: str | None = None
    error_count: int = 0
    next_fetch_at: datetime | None = None
    articles_total: int = 0


class Topic(BaseModel):
    slug: str
    name: str
    keywords: list[str] = Field(default_factory=list)
    description: str = ""

    _slug = field_validator("slug")(classmethod(lambda cls, v: check_slug(v)))

    @field_validator("slug")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == MORE_NEWS:
            raise ValueError(f"{MORE_NEWS!r} is reserved for the 'More news' section")
        return value


class Article(BaseModel):
    id: str  # sha1 of the canonical URL, else of feed+guid, else of feed+content hash
    feed_id: str
    source: str
    title: str
    url: str
    guid: str
    published: datetime
    author: str = ""
    summary_html: str = ""  # sanitized, allow-listed HTML
    summary_text: str = ""  # plain text, for the text part and for matching
    image: str | None = None
    categories: list[str] = Field(default_factory=list)
    content_hash: str = ""
    topics: list[str] = Field(default_factory=list)
    collected_at: datetime = Field(default_factory=utcnow)


class DigestList(BaseModel):
    """A mailing list: who it is from, in which language, which topics it carries."""

    slug: str
    name: str
    from_email: str
    from_name: str = ""
    reply_to: str | None = None
    locale: str = "en"
    timezone: str = "UTC"
    description: str = ""  # "why you get this", shown in the footer
    topics: list[str] = Field(default_factory=list)  # ordered; empty = every topic
    feeds: list[str] = Field(default_factory=list)  # empty = every feed
    window_days: int = Field(default=7, ge=1, le=60)
    max_per_section: int = Field(default=8, ge=1, le=50)

    _slug = field_validator("slug")(classmethod(lambda cls, v: check_slug(v)))

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        if value not in LOCALES:
            raise ValueError(f"locale {value!r} is not one of {', '.join(LOCALES)}")
        return value


class Subscriber(BaseModel):
    email: str
    name: str = ""
    topics: list[str] | None = None  # None: every topic of the list, now and later
    status: str = "active"  # active | unsubscribed
    created_at: datetime = Field(default_factory=utcnow)

    @field_validator("name")
    @classmethod
    def _printable_name(cls, value: str) -> str:
        """One line of printable text: a name goes into a header (To:) and a greeting."""
        text = " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())
        if len(text) > NAME_MAX_CHARS:
            raise ValueError(f"a name is at most {NAME_MAX_CHARS} characters")
        return text


NAME_MAX_CHARS = 200
