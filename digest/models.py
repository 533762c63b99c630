"""The nouns of digest, validated once at the edge and stored as JSON in Redis."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator

from digest.samples import SCHEME as SAMPLE_SCHEME
from digest.samples import sample_name

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MORE_NEWS = "more"  # the pseudo-topic that collects what matches no topic
LOCALES = ("en", "es", "fr", "de")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def check_locale(value: str) -> str:
    if value not in LOCALES:
        raise ValueError(f"locale {value!r} is not one of {', '.join(LOCALES)}")
    return value


def check_slug(value: str) -> str:
    if not SLUG.match(value):
        raise ValueError(
            f"{value!r} is not a valid id: use lower-case letters, digits and dashes"
        )
    return value


class Feed(BaseModel):
    id: str
    url: str = ""  # required for kind "feed"; a newsletter has none
    name: str = ""
    # Fetch the article page for teasers ("auto"), for every entry, or never (digest/collect/fulltext.py).
    full_text: Literal["auto", "always", "never"] = "auto"
    # The collector's verdict: paused after FEED_MAX_FAILURES failures in a row (until
    # `digest feeds resume`), retired by a 410 Gone (never fetched again); `status_reason`
    # says why, in the words of the error that did it.
    status: Literal["active", "paused", "retired"] = "active"
    status_reason: str = ""
    status_since: datetime | None = None
    # "newsletter": no URL, never fetched; mail to its inbound address from one of its
    # `senders` (addresses, or "@domain") becomes its articles (digest/collect/newsletter.py).
    kind: Literal["feed", "newsletter"] = "feed"
    senders: list[str] = Field(default_factory=list, max_length=50)
    categories: list[str] = Field(default_factory=list, max_length=10)  # OPML folders, exported back

    _id = field_validator("id")(classmethod(lambda cls, v: check_slug(v)))

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value.startswith(SAMPLE_SCHEME):
            sample_name(value)  # ValueError names the bundled samples
            return value
        if value and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("senders")
    @classmethod
    def _senders(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip().lower() for v in value]
        for sender in cleaned:
            if not re.fullmatch(r"[^@\s]{0,64}@([a-z0-9-]{1,63}\.)+[a-z]{2,63}", sender):
                raise ValueError(f"{sender!r} is not an address or @domain")
        return list(dict.fromkeys(cleaned))

    @model_validator(mode="after")
    def _url_unless_newsletter(self) -> Feed:
        if self.kind == "feed" and not self.url:
            raise ValueError("a feed needs an http(s) URL")
        return self


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
    # What the feed itself asks of readers, from its last parse (kept for the 304s):
    # RSS <ttl> in minutes, and the UTC hours (0-23) and weekdays (0 = Monday) of
    # <skipHours>/<skipDays>.
    ttl_minutes: int | None = None
    skip_hours: list[int] = Field(default_factory=list)
    skip_days: list[int] = Field(default_factory=list)


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
    id: str  # sha1 of feed + canonical URL, else of feed + guid, else of feed + content hash
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

    @property
    def page_id(self) -> str:
        """sha1 of the canonical URL ("" without one): the same page, whichever feed carried it.

        Also what an article's id was before ids were per feed, so issues sent then
        still count (window.py)."""
        return hashlib.sha1(self.url.encode("utf-8")).hexdigest() if self.url else ""


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class Schedule(BaseModel):
    """When a list's issue goes out: a cadence and a local time in the list's time zone.

    daily; weekly on `weekday`; monthly on `day` (29-31 mean the month's last day
    when it is shorter). digest/schedule.py turns this into time slots.
    """

    cadence: Literal["daily", "weekly", "monthly"] = "weekly"
    weekday: str = "monday"  # weekly
    day: int = Field(default=1, ge=1, le=31)  # monthly
    time: str = "08:00"  # local, 24-hour HH:MM
    needs_approval: bool = False
    # An issue waiting for approval is skipped (with a record) this long after its slot.
    approval_hours: float = Field(default=24.0, gt=0, le=24 * 31)
    paused: str = ""  # why the schedule is paused ("" runs); set by digest or an editor
    # Slots before this moment are not run: setting a schedule on a Tuesday for
    # Mondays does not send yesterday's issue. Set when the schedule is set.
    since: datetime = Field(default_factory=utcnow)

    @field_validator("weekday")
    @classmethod
    def _weekday(cls, value: str) -> str:
        value = value.strip().lower()
        found = [d for d in WEEKDAYS if d.startswith(value[:3])] if len(value) >= 3 else []
        if len(found) != 1:
            raise ValueError(f"weekday {value!r} is not one of {', '.join(WEEKDAYS)}")
        return found[0]

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", value.strip())
        if not m:
            raise ValueError(f"time {value!r} is not a 24-hour HH:MM time")
        return f"{int(m[1]):02d}:{m[2]}"

    def describe(self) -> str:
        when = {"daily": "daily", "weekly": f"every {self.weekday.title()}",
                "monthly": f"monthly on day {self.day}"}[self.cadence]
        extra = ", needs approval" if self.needs_approval else ""
        paused = f" (PAUSED: {self.paused})" if self.paused else ""
        return f"{when} at {self.time}{extra}{paused}"


def check_from_email(value: str) -> str:
    """A list's sender address: one deliverable-looking address, normalised (checked when set)."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"from address {value!r} is not valid: {exc}") from None


class DigestList(BaseModel):
    """A mailing list: who it is from, in which language, which topics it carries."""

    slug: str
    name: str = Field(max_length=200)  # also the List-Id's phrase and, without from_name, From's name
    from_email: str
    from_name: str = Field(default="", max_length=200)
    reply_to: str | None = None
    locale: str = "en"
    timezone: str = "UTC"
    description: str = ""  # "why you get this", shown in the footer
    # The sender's postal address, in every issue's footer (CAN-SPAM): an issue of a
    # list without one is not planned (digest.deliver.send), only previewed.
    postal_address: str = Field(default="", max_length=300)
    intro: str = Field(default="", max_length=1000)  # the editor's note at the top of each issue
    subject_max_chars: int = Field(default=70, ge=30, le=150)  # subjects are cut at a word below this
    topics: list[Topic] = Field(default_factory=list)  # its sections, in order; More news comes last
    feeds: list[str] = Field(default_factory=list)  # empty = every feed
    window_days: int = Field(default=7, ge=1, le=60)
    max_per_section: int = Field(default=8, ge=1, le=50)
    schedule: Schedule | None = None  # None: sent only by hand (digest send now)
    # double: people who sign up (or are added) confirm by email first; single: for
    # imports of people who already consented elsewhere, recorded as such.
    opt_in: Literal["double", "single"] = "double"

    _slug = field_validator("slug")(classmethod(lambda cls, v: check_slug(v)))
    _from = field_validator("from_email")(classmethod(lambda cls, v: check_from_email(v)))

    @field_validator("reply_to")
    @classmethod
    def _reply_to(cls, value: str | None) -> str | None:
        return check_from_email(value) if value else None

    @field_validator("name", "from_name", "postal_address", "intro")
    @classmethod
    def _one_paragraph(cls, value: str) -> str:
        """One line of printable text: line breaks and control characters become spaces."""
        return " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"time zone {value!r} is not an IANA zone name such as Europe/Madrid") from None
        return value

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

    _locale = field_validator("locale")(classmethod(lambda cls, v: check_locale(v)))


# pending: asked, not confirmed yet; paused: by the reader, until `paused_until`;
# bounced/complained: SendGrid said so; suppressed: on the suppression list.
STATUSES = ("pending", "active", "paused", "unsubscribed", "bounced", "complained", "suppressed")


class Subscriber(BaseModel):
    email: str
    name: str = ""
    topics: list[str] | None = None  # None: every topic of the list, now and later
    status: str = "active"
    created_at: datetime = Field(default_factory=utcnow)  # when they joined (or were added)
    locale: str | None = None  # None: the list's
    # The evidence of consent: how they joined (form, api, import, cli), from
    # where, and when and how they confirmed (double-opt-in, single-opt-in).
    source: str = ""
    ip: str = ""
    consent: str = ""
    confirmed_at: datetime | None = None
    paused_until: datetime | None = None

    @field_validator("status")
    @classmethod
    def _known_status(cls, value: str) -> str:
        if value not in STATUSES:
            raise ValueError(f"status {value!r} is not one of {', '.join(STATUSES)}")
        return value

    _locale = field_validator("locale")(classmethod(lambda cls, v: v if v is None else check_locale(v)))

    def profile(self) -> dict[str, str]:
        """The fields kept beside the send path's record (store/subscribers.py), only those set."""
        out = {k: getattr(self, k) for k in PROFILE_FIELDS}
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in out.items() if v}

    @field_validator("name")
    @classmethod
    def _printable_name(cls, value: str) -> str:
        """One line of printable text: a name goes into a header (To:) and a greeting."""
        text = " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())
        if len(text) > NAME_MAX_CHARS:
            raise ValueError(f"a name is at most {NAME_MAX_CHARS} characters")
        return text


NAME_MAX_CHARS = 200
PROFILE_FIELDS = ("locale", "source", "ip", "consent", "confirmed_at", "paused_until")


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
