"""render_issue: one Jinja2 render and one premailer call per issue; variants by assembly."""

from __future__ import annotations

import html as htmllib
import json
import logging
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import premailer

from digest.config import Settings
from digest.render.engine import make_environment, translations

if TYPE_CHECKING:  # digest.issue renders through this module
    from digest.issue import IssueContent

# Per-reader placeholders, filled by SendGrid substitutions or the outbox. The
# links carry only the token as a placeholder, which keeps each of a million
# personalizations small.
READER_TOKEN = "-reader_token-"
GREETING = "-greeting-"
# Per-variant placeholder, filled by RenderedIssue.assemble.
_PREHEADER = "-digest-preheader-"

_SECTION = re.compile(r"<!--digest:section:([a-z0-9-]+)-->(.*?)<!--/digest:section:\1-->", re.S)
_SUBJECT_MAX = 78
_calls = 0


def premailer_calls() -> int:
    """How many times this process has run premailer (the benchmark prints it)."""
    return _calls


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
    order: list[str]
    headlines: dict[str, list[str]]
    html_head: str
    html_sections: dict[str, str]
    html_tail: str
    text_head: str
    text_sections: dict[str, str]
    text_tail: str
    wording: dict[str, str]

    def sections_for(self, topics: set[str] | None) -> list[str]:
        return list(self.order) if topics is None else [s for s in self.order if s in topics]

    def assemble(self, topics: set[str] | None) -> tuple[str, str] | None:
        """(html, text) with only the chosen sections; None when none of them is in this issue."""
        chosen = self.sections_for(topics)
        if not chosen:
            return None
        preheader = htmllib.escape(self.preheader_for(topics) or "")
        html = "".join([self.html_head.replace(_PREHEADER, preheader),
                        *(self.html_sections[s] for s in chosen), self.html_tail])
        text = "".join([self.text_head, *(self.text_sections[s] for s in chosen), self.text_tail])
        return html, re.sub(r"\n{3,}", "\n\n", text)

    def variant_key(self, topics: set[str] | None) -> str:
        return "|".join(self.sections_for(topics))

    def subject_for(self, topics: set[str] | None) -> str:
        chosen = self.sections_for(topics)
        headline = self.headlines[chosen[0]][0] if chosen else ""
        subject = self.wording["subject"] % {"list": self.list_name, "headline": headline}
        return subject if len(subject) <= _SUBJECT_MAX else subject[: _SUBJECT_MAX - 1].rstrip() + "…"

    @property
    def subject(self) -> str:
        return self.subject_for(None)

    def preheader_for(self, topics: set[str] | None) -> str:
        chosen = self.sections_for(topics)
        tops = [self.headlines[s][0] for s in chosen]
        count = sum(len(self.headlines[s]) for s in chosen)
        return self.wording["preheader"] % {"count": count, "headlines": " · ".join(tops[:3])}

    def reader_values(self, token: str, name: str) -> dict[str, str]:
        """The substitutions that make a variant one reader's email."""
        return {READER_TOKEN: token, GREETING: self.greeting(name)}

    def greeting(self, name: str) -> str:
        """The greeting line for one reader (HTML-safe: it is substituted into both parts)."""
        name = name.strip()
        if not name:
            return self.wording["greeting_anonymous"]
        if "&" in name or "<" in name or ">" in name:
            name = htmllib.escape(name, quote=False)
        return self.wording["greeting"] % {"name": name}

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> RenderedIssue:
        return cls(**json.loads(raw))


def render_issue(content: IssueContent, settings: Settings) -> RenderedIssue:
    lst = content.digest_list
    env = make_environment(settings, lst.locale, lst.timezone)
    gettext = translations(lst.locale).gettext
    context = {
        "digest_list": lst,
        "issue_date": env.filters["short_date"](content.now, "long"),
        "sections": content.sections,
        "unsubscribe_url": f"{settings.base_url}/u/{READER_TOKEN}",
        "preferences_url": f"{settings.base_url}/p/{READER_TOKEN}",
        "greeting_marker": GREETING,
        "preheader_marker": _PREHEADER,
    }
    html = _inline(env.get_template("digest.html.j2").render(context))
    text = env.get_template("digest.txt.j2").render(context)
    html_head, html_sections, html_tail = _split(html)
    text_head, text_sections, text_tail = _split(text)
    return RenderedIssue(
        list_name=lst.name,
        locale=lst.locale,
        order=[s.slug for s in content.sections],
        headlines={s.slug: [a.title for a in s.articles] for s in content.sections},
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
    )
