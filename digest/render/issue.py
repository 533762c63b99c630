"""render_issue: one Jinja2 render and one premailer call per issue; variants by assembly."""

from __future__ import annotations

import html as htmllib
import json
import logging
import re
import secrets
from dataclasses import asdict, dataclass, field

import premailer

from digest.config import Settings
from digest.content import IssueContent
from digest.render.engine import make_environment, translations

# Per-reader placeholders are filled by SendGrid substitutions or the outbox, and
# both replace every occurrence in the whole message, feed text included. So the
# placeholders are made anew, unguessable, for every rendering (Markers): a feed
# cannot contain or forge one, and a reader's token and name land only where the
# template put them. The links carry only the token as a placeholder, which keeps
# each of a million personalizations small.
# Per-variant placeholder, filled by RenderedIssue.assemble before anyone sees it.
_PREHEADER = "-digest-preheader-"

# A part of a section: "S~head" (its heading), "S~main" (its own stories), "S~from~P"
# (stories of section P that belong in S too).
_SECTION = re.compile(r"<!--digest:section:([a-z0-9~-]+)-->(.*?)<!--/digest:section:\1-->", re.S)
_SUBJECT_MAX = 78
_calls = 0


def premailer_calls() -> int:
    """How many times this process has run premailer (the benchmark prints it)."""
    return _calls


@dataclass(frozen=True)
class Markers:
    """This rendering's placeholders: the reader's token, and the greeting for each part.

    The greeting has one placeholder per part because its value is escaped for the
    part it lands in: HTML-escaped (quotes too) in the HTML, as typed in the text.
    """

    token: str = field(default_factory=lambda: _marker("t"))
    greeting_html: str = field(default_factory=lambda: _marker("gh"))
    greeting_text: str = field(default_factory=lambda: _marker("gt"))

    def absent_from(self, texts: list[str]) -> bool:
        return not any(m in t for t in texts for m in (self.token, self.greeting_html, self.greeting_text))


def _marker(kind: str) -> str:
    return f"-{kind}{secrets.token_hex(12)}-"  # 96 random bits: letters, digits and dashes only


def personalize(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def _inline(document: str) -> str:
    global _calls
    _calls += 1
    return premailer.Premailer(
        document,
        allow_network=False,
        allow_loading_external_files=False,
        remove_classes=False,  # the media queries still select by class
        strip_important=False,  # dark-mode and mobile rules must beat inline styles
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
    ).transform()


def _split(document: str) -> tuple[str, dict[str, str], str]:
    matches = list(_SECTION.finditer(document))
    if not matches:
        return document, {}, ""
    sections = {m.group(1): m.group(2) for m in matches}
    return document[: matches[0].start()], sections, document[matches[-1].end():]


@dataclass
class RenderedIssue:
    list_name: str
    locale: str
    order: list[str]  # section slugs
    headlines: dict[str, list[str]]  # by content part ("S~main", "S~from~P")
    secondary: dict[str, list[str]]  # section -> the sections it has "S~from~P" parts of
    html_head: str
    html_sections: dict[str, str]
    html_tail: str
    text_head: str
    text_sections: dict[str, str]
    text_tail: str
    wording: dict[str, str]
    markers: Markers

    def parts_for(self, topics: set[str] | None) -> list[str]:
        """The parts a reader with these topics gets, in order (None: every topic).

        A chosen section brings its own stories, and the stories of sections the
        reader did not choose that also belong here; its heading comes only with
        something under it.
        """
        chosen = self.order if topics is None else [s for s in self.order if s in topics]
        parts = []
        for s in chosen:
            body = [f"{s}~main"] if f"{s}~main" in self.html_sections else []
            if topics is not None:
                body += [f"{s}~from~{p}" for p in self.secondary.get(s, []) if p not in topics]
            if body:
                parts += [f"{s}~head", *body]
        return parts

    def _content_parts(self, topics: set[str] | None) -> list[str]:
        return [p for p in self.parts_for(topics) if not p.endswith("~head")]

    def assemble(self, topics: set[str] | None) -> tuple[str, str] | None:
        """(html, text) with only the chosen sections; None when none of them has anything in this issue."""
        parts = self.parts_for(topics)
        if not parts:
            return None
        preheader = htmllib.escape(self.preheader_for(topics) or "")
        html = "".join([self.html_head.replace(_PREHEADER, preheader),
                        *(self.html_sections[p] for p in parts), self.html_tail])
        text = "".join([self.text_head, *(self.text_sections[p] for p in parts), self.text_tail])
        return html, re.sub(r"\n{3,}", "\n\n", text)

    def variant_key(self, topics: set[str] | None) -> str:
        return "|".join(self.parts_for(topics))

    def subject_for(self, topics: set[str] | None) -> str:
        parts = self._content_parts(topics)
        headline = self.headlines[parts[0]][0] if parts else ""
        subject = self.wording["subject"] % {"list": self.list_name, "headline": headline}
        return subject if len(subject) <= _SUBJECT_MAX else subject[: _SUBJECT_MAX - 1].rstrip() + "…"

    @property
    def subject(self) -> str:
        return self.subject_for(None)

    def preheader_for(self, topics: set[str] | None) -> str:
        parts = self._content_parts(topics)
        tops = [self.headlines[p][0] for p in parts]
        count = sum(len(self.headlines[p]) for p in parts)
        return self.wording["preheader"] % {"count": count, "headlines": " · ".join(tops[:3])}

    def reader_values(self, token: str, name: str) -> dict[str, str]:
        """The substitutions that make a variant one reader's email, each escaped for where it lands."""
        greeting = self.greeting(name)
        return {
            self.markers.token: token,  # base64url and ".": safe in a URL, an attribute and text
            self.markers.greeting_html: htmllib.escape(greeting, quote=True),
            self.markers.greeting_text: greeting,
        }

    def greeting(self, name: str) -> str:
        """The greeting line for one reader, as text (reader_values escapes it for HTML)."""
        name = " ".join(name.split())
        if not name:
            return self.wording["greeting_anonymous"]
        return self.wording["greeting"] % {"name": name}

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> RenderedIssue:
        fields = json.loads(raw)
        return cls(**{**fields, "markers": Markers(**fields["markers"])})


def render_issue(content: IssueContent, settings: Settings) -> RenderedIssue:
    lst = content.digest_list
    env = make_environment(settings, lst.locale, lst.timezone)
    gettext = translations(lst.locale).gettext
    markers = _fresh_markers(content)
    context = {
        "digest_list": lst,
        "issue_date": env.filters["short_date"](content.now, "long"),
        "sections": content.sections,
        "unsubscribe_url": f"{settings.base_url}/u/{markers.token}",
        "preferences_url": f"{settings.base_url}/p/{markers.token}",
        "greeting_marker": markers.greeting_html,
        "preheader_marker": _PREHEADER,
    }
    html = _inline(env.get_template("digest.html.j2").render(context))
    text = env.get_template("digest.txt.j2").render({**context, "greeting_marker": markers.greeting_text})
    html_head, html_sections, html_tail = _split(html)
    text_head, text_sections, text_tail = _split(text)
    return RenderedIssue(
        list_name=lst.name,
        locale=lst.locale,
        order=[s.slug for s in content.sections],
        headlines={
            **{f"{s.slug}~main": [st.lead.title for st in s.stories] for s in content.sections if s.stories},
            **{f"{s.slug}~from~{p}": [st.lead.title for st in found]
               for s in content.sections for p, found in s.secondary.items()},
        },
        secondary={s.slug: list(s.secondary) for s in content.sections if s.secondary},
        html_head=html_head,
        html_sections=html_sections,
        html_tail=html_tail,
        text_head=text_head,
        text_sections=text_sections,
        text_tail=text_tail,
        wording={
            "subject": gettext("%(list)s: %(headline)s"),
            "preheader": gettext("%(count)s stories this week: %(headlines)s"),
            "greeting": gettext("Hello %(name)s, here is your week."),
            "greeting_anonymous": gettext("Here is your week."),
        },
        markers=markers,
    )


def _fresh_markers(content: IssueContent) -> Markers:
    """Placeholders that occur nowhere in the issue's feed text (96 random bits make a clash
    all but impossible; checking costs a scan and makes it impossible)."""
    texts = [part for a in content.articles for part in (a.title, a.url, a.source, a.author,
                                                         a.summary_text, a.image or "")]
    lst = content.digest_list
    texts += [lst.name, lst.description, *(s.name for s in content.sections)]
    while not (markers := Markers()).absent_from(texts):
        pass
    return markers
