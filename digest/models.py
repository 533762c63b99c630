"""The nouns of digest, validated once at the edge and stored as JSON in Redis."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import NamedTuple

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
    """A section of a list's email, as its editors describe it, in the list's language."""

    slug: str
    name: str = Field(min_length=1, max_length=80)
    description: str = Field(default="", max_length=500)  # one sentence: what belongs here
    keywords: list[str] = Field(default_factory=list, max_length=50)  # optional; word forms match

    _slug = field_validator("slug")(classmethod(lambda cls, v: check_slug(v)))

    @field_validator("slug")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == MORE_NEWS:
            raise ValueError(f"{MORE_NEWS!r} is reserved for the 'More news' section")
        return value

    @field_validator("name", "description")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return " ".join(value.split())

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: list[str]) -> list[str]:
        cleaned = [" ".join(k.split()) for k in value]
        if any(not k or len(k) > 80 for k in cleaned):
            raise ValueError("each keyword is 1 to 80 characters")
        return list(dict.fromkeys(cleaned))


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
    language: str = ""  # ISO 639-1, detected at collection ("": too little text to tell)
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
    topics: list[Topic] = Field(default_factory=list)  # its sections, in order; More news comes last
    feeds: list[str] = Field(default_factory=list)  # empty = every feed
    window_days: int = Field(default=7, ge=1, le=60)
    max_per_section: int = Field(default=8, ge=1, le=50)

    _slug = field_validator("slug")(classmethod(lambda cls, v: check_slug(v)))

    @field_validator("topics", mode="before")
    @classmethod
    def _topics_saved_as_slugs(cls, value: object) -> object:
        """Lists saved before topics belonged to lists named global topics by slug: keep
        each as a topic of that name (its description is empty until re-imported)."""
        if isinstance(value, list):
            return [Topic(slug=v, name=v.replace("-", " ").title()) if isinstance(v, str) else v for v in value]
        return value

    @field_validator("topics")
    @classmethod
    def _distinct_topics(cls, value: list[Topic]) -> list[Topic]:
        slugs = [t.slug for t in value]
        twice = sorted({s for s in slugs if slugs.count(s) > 1})
        if twice:
            raise ValueError(f"topic(s) defined twice: {', '.join(twice)}")
        return value

    def topic_names(self, more_news_name: str) -> dict[str, str]:
        """Section headings by slug, More news included."""
        return {**{t.slug: t.name for t in self.topics}, MORE_NEWS: more_news_name}

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


class Filing(NamedTuple):
    """Where one article goes in one list: its primary topic (or More news), how sure
    the assignment is, the other topics it also belongs to, and who decided."""

    primary: str
    confidence: float = 1.0
    secondary: tuple[str, ...] = ()
    by: str = "model"  # model | editor

    def pack(self) -> str:
        return f"{self.primary}|{self.confidence:.4f}|{','.join(self.secondary)}|{self.by}"

    @classmethod
    def unpack(cls, raw: str) -> Filing:
        primary, confidence, secondary, by = raw.split("|", 3)
        return cls(primary, float(confidence), tuple(s for s in secondary.split(",") if s), by)

    def topics(self) -> tuple[str, ...]:
        return (self.primary, *self.secondary)
