"""render_issue: one Jinja2 render and one premailer call per issue; variants by assembly.

The templates mark parts ({{ part(name) }} … {{ end(name) }}) and slots ({{ slot(name) }}).
After inlining, each part is cut out and leaves a slot where it stood; a variant is
the skeleton with its slots filled: the chosen sections' parts, the table of contents
(long variants only) with the chosen sections' entries, the preheader, the "view in
browser" URL and, in the text part, the story numbers. Part names: "S~head" (a
section's heading), "S~main" (its own stories), "S~from~P" (stories of section P that
belong in S too), "S~toc" (its entry in the contents), "toc" and "toc-sep".
"""

from __future__ import annotations

import html as htmllib
import itertools
import json
import logging
import re
import secrets
import textwrap
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import premailer
from babel.lists import format_list
from markupsafe import Markup

from digest.config import Settings
from digest.content import IssueContent
from digest.render.engine import make_environment
from digest.render.words import fit_subject, wording

# Per-reader placeholders are filled by SendGrid substitutions or the outbox, and
# both replace every occurrence in the whole message, feed text included. So the
# placeholders are made anew, unguessable, for every rendering (Markers): a feed
# cannot contain or forge one, and a reader's token and name land only where the
# template put them. The links carry only the token as a placeholder, which keeps
# each of a million personalizations small. Parts and slots carry a random `cut` of
# their own for the same reason: feed text cannot end a part early or open a slot.
_NAME = r"[a-z0-9~-]+"
TOC_MIN_SECTIONS = 3  # a variant this long gets a table of contents ...
TOC_MIN_STORIES = 8  # ... when it also has this many stories
TEXT_WIDTH = 78
_HTML_SPECIAL = re.compile(r"[&<>\"']")  # what html.escape(quote=True) changes; most greetings hold none
_calls = 0


def premailer_calls() -> int:
    """How many times this process has run premailer (the benchmark prints it)."""
    return _calls


def archive_url(base_url: str, list_slug: str, issue_id: str = "") -> str:
    """A list's public archive, or one issue in it (digest/web/archive.py serves both)."""
    return f"{base_url}/archive/{list_slug}" + (f"/{issue_id}" if issue_id else "")


@dataclass(frozen=True)
class Markers:
    """This rendering's placeholders: the reader's token, and the greeting for each part.

    The greeting has one placeholder per part because its value is escaped for the
    part it lands in: HTML-escaped (quotes too) in the HTML, as typed in the text.
    A batch whose readers' greetings come out the same in both (no escaping, no
    wrapping: the usual case) puts the HTML's placeholder in its text too, and sends
    one greeting a reader (digest/deliver/send.py).
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


def fill_text(text: str) -> str:
    """textwrap.fill(text, TEXT_WIDTH), without its cost when it would change nothing.

    Called once per recipient (the greeting): textwrap.fill costs ~9 us, a third of a
    recipient's whole cost. A line that already fits, holds no whitespace but single-width
    spaces (isprintable: no tabs, newlines or other separators) and neither starts nor ends
    with a space comes back from textwrap.fill as it is (tests/test_send_speed.py checks
    this against textwrap.fill itself).
    """
    if len(text) <= TEXT_WIDTH and text.isprintable() and text[:1] != " " and text[-1:] not in ("", " "):
        return text
    return textwrap.fill(text, TEXT_WIDTH)


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
        disable_basic_attributes=["width", "height"],  # keep width="552" for Outlook; no height="auto"
        cssutils_logging_level=logging.CRITICAL,
    ).transform()


def _slot(cut: str, name: str) -> str:
    return f"[[{cut}:{name}]]"


def _cut(document: str, cut: str) -> tuple[str, dict[str, str]]:
    """The document with each part replaced by its slot, and the parts (cut the same way)."""
    pattern = re.compile(rf"<!--{cut}:({_NAME})-->(.*?)<!--/{cut}:\1-->", re.S)
    parts: dict[str, str] = {}

    def take(m: re.Match[str]) -> str:
        parts[m.group(1)] = pattern.sub(take, m.group(2))
        return _slot(cut, m.group(1))

    return pattern.sub(take, document), parts


@dataclass
class RenderedIssue:
    list_name: str
    locale: str
    order: list[str]  # section slugs
    names: dict[str, str]  # section slug -> its heading
    headlines: dict[str, list[str]]  # by content part ("S~main", "S~from~P")
    secondary: dict[str, list[str]]  # section -> the sections it has "S~from~P" parts of
    html: str  # the skeleton, slots in place of parts
    html_parts: dict[str, str]
    text: str
    text_parts: dict[str, str]
    cut: str
    wording: dict[str, str]
    markers: Markers
    web_url: str = ""  # "view in browser": the list's archive, the issue's page once it is planned
    subject_max: int = 70

    def parts_for(self, topics: set[str] | None) -> list[str]:
        """The parts a reader with these topics gets, in order (None: every topic).

        A chosen section brings its own stories, and the stories of sections the
        reader did not choose that also belong here; its heading comes only with
        something under it.
        """
        chosen = self.order if topics is None else [s for s in self.order if s in topics]
        parts = []
        for s in chosen:
            body = [f"{s}~main"] if f"{s}~main" in self.headlines else []
            if topics is not None:
                body += [f"{s}~from~{p}" for p in self.secondary.get(s, []) if p not in topics]
            if body:
                parts += [f"{s}~head", *body]
        return parts

    def _content_parts(self, topics: set[str] | None) -> list[str]:
        return [p for p in self.parts_for(topics) if not p.endswith("~head")]

    def sections_for(self, topics: set[str] | None) -> list[str]:
        """The sections a reader with these topics sees, in order."""
        return [p.split("~", 1)[0] for p in self.parts_for(topics) if p.endswith("~head")]

    def assemble(self, topics: set[str] | None) -> tuple[str, str] | None:
        """(html, text) with only the chosen sections; None when none of them has anything in this issue."""
        parts = self.parts_for(topics)
        if not parts:
            return None
        sections = self.sections_for(topics)
        stories = sum(len(self.headlines[p]) for p in parts if not p.endswith("~head"))
        web_url = self.web_url_for(topics)

        def values(found: dict[str, str]) -> dict[str, str]:
            chosen = {p: found.get(p, "") for p in parts}
            if len(sections) >= TOC_MIN_SECTIONS and stories >= TOC_MIN_STORIES:
                chosen["toc"] = found.get("toc", "")
                chosen["toc-entries"] = found.get("toc-sep", "").join(found.get(f"{s}~toc", "") for s in sections)
            return chosen

        html = self._fill(self.html, {**values(self.html_parts), "weburl": htmllib.escape(web_url),
                                      "preheader": htmllib.escape(self.preheader_for(topics))})
        text = self._fill(self.text, {**values(self.text_parts), "weburl": web_url})
        return html, re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n"

    def _fill(self, skeleton: str, values: dict[str, str]) -> str:
        """Every slot filled (parts not chosen: left out), inner slots too; "n" numbers stories."""
        pattern = re.compile(re.escape(f"[[{self.cut}:") + rf"({_NAME})\]\]")
        numbers = itertools.count(1)

        def fill(m: re.Match[str]) -> str:
            name = m.group(1)
            if name == "n":
                return f"{next(numbers)}.".ljust(3)
            return pattern.sub(fill, values.get(name, ""))

        return pattern.sub(fill, skeleton)

    def variant_key(self, topics: set[str] | None) -> str:
        return "|".join(self.parts_for(topics))

    def web_url_for(self, topics: set[str] | None) -> str:
        """The issue's page showing these sections: a function of the parts, like everything per variant."""
        shown = self.sections_for(topics)
        if not self.web_url or set(shown) == set(self.sections_for(None)):
            return self.web_url
        return f"{self.web_url}?topics={','.join(sorted(shown))}"

    def subject_for(self, topics: set[str] | None) -> str:
        """The list's name and the lead stories (each section's first), cut at a word under the limit."""
        leads = [self.headlines[p][0] for p in self._content_parts(topics)]
        return fit_subject(self.wording["subject"], self.list_name, leads, self.subject_max)

    @property
    def subject(self) -> str:
        return self.subject_for(None)

    def preheader_for(self, topics: set[str] | None) -> str:
        """What the issue holds (how many stories, which sections), not the subject again."""
        count = sum(len(self.headlines[p]) for p in self._content_parts(topics))
        names = [self.names[s] for s in self.sections_for(topics)]
        sentence = self.wording["preheader_one" if count == 1 else "preheader"]
        return sentence % {"count": count, "sections": format_list(names, locale=self.locale) if names else ""}

    def reader_values(self, token: str, name: str) -> dict[str, str]:
        """The substitutions that make a variant one reader's email, each escaped for where it lands."""
        greeting_html, greeting_text = self._greetings(name)
        markers = self.markers
        return {
            markers.token: token,  # base64url and ".": safe in a URL, an attribute and text
            markers.greeting_html: greeting_html,
            markers.greeting_text: greeting_text,
        }

    def greeter(self) -> Callable[[str], tuple[str, str]]:
        """name -> (the greeting for the HTML part, for the text part), as reader_values makes
        them; build one per batch. Most names need no escaping, no spaces folded and no
        wrapping: for those both are one string (the same object), made without the checks."""
        head, found, tail = self.wording["greeting"].partition("%(name)s")
        frame = head + tail
        if (not found or "%" in frame or not frame.isprintable() or _HTML_SPECIAL.search(frame)
                or head[:1] == " " or tail[-1:] == " "):
            return self._greetings  # a wording the shortcut does not know: the checks every time
        room = TEXT_WIDTH - len(frame)
        special = _HTML_SPECIAL.search
        slow = self._greetings
        anonymous = slow("")

        def greet(name: str) -> tuple[str, str]:
            # isprintable: no whitespace but " ", so with no space at either end and none
            # doubled, " ".join(name.split()) is the name; the line fits and holds nothing
            # to escape, so html.escape and textwrap.fill would give it back as it is.
            if not name:
                return anonymous
            if (len(name) <= room and name.isprintable() and name[0] != " " and name[-1] != " "
                    and "  " not in name and not special(name)):
                line = head + name + tail
                return line, line
            return slow(name)

        return greet

    def _greetings(self, name: str) -> tuple[str, str]:
        greeting = self.greeting(name)
        return (htmllib.escape(greeting, quote=True) if _HTML_SPECIAL.search(greeting) else greeting,
                fill_text(greeting))

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
        if "html_head" in fields:
            fields = _from_cut_at_sections(fields)
        return cls(**{**fields, "markers": Markers(**fields["markers"])})


def _from_cut_at_sections(old: dict) -> dict:  # type: ignore[type-arg]
    """A rendering stored before parts and slots (an issue planned before an upgrade, still
    sending): its head, sections and tail become a skeleton; it has no contents or numbers."""
    cut = secrets.token_hex(8)
    html_parts, text_parts = old.pop("html_sections"), old.pop("text_sections")
    html = old.pop("html_head").replace("-digest-preheader-", _slot(cut, "preheader"))
    html += "".join(_slot(cut, p) for p in html_parts) + old.pop("html_tail")
    text = old.pop("text_head") + "".join(_slot(cut, p) for p in text_parts) + old.pop("text_tail")
    names = {s: s for s in old["order"]}
    return {**old, "names": names, "html": html, "html_parts": html_parts, "text": text,
            "text_parts": text_parts, "cut": cut, "wording": wording(old["locale"])}


def render_issue(content: IssueContent, settings: Settings) -> RenderedIssue:
    lst = content.digest_list
    env = make_environment(settings, lst.locale, lst.timezone)
    markers, cut = _fresh_markers(content)
    context = {
        **_part_helpers(cut),  # in the context, not the environment's globals: environments are shared
        "digest_list": lst,
        "lang": lst.locale,
        "issue_date": env.filters["short_date"](content.now, "long"),
        "sections": content.sections,
        "unsubscribe_url": f"{settings.base_url}/u/{markers.token}",
        "preferences_url": f"{settings.base_url}/p/{markers.token}",
        "archive_url": archive_url(settings.base_url, lst.slug),
        "greeting_marker": markers.greeting_html,
    }
    html, html_parts = _cut(_inline(env.get_template("digest.html.j2").render(context)), cut)
    text_context = {**context, "greeting_marker": markers.greeting_text}
    text, text_parts = _cut(env.get_template("digest.txt.j2").render(text_context), cut)
    return RenderedIssue(
        list_name=lst.name,
        locale=lst.locale,
        order=[s.slug for s in content.sections],
        names={s.slug: s.name for s in content.sections},
        headlines={
            **{f"{s.slug}~main": [st.lead.title for st in s.stories] for s in content.sections if s.stories},
            **{f"{s.slug}~from~{p}": [st.lead.title for st in found]
               for s in content.sections for p, found in s.secondary.items()},
        },
        secondary={s.slug: list(s.secondary) for s in content.sections if s.secondary},
        html=html,
        html_parts=html_parts,
        text=text,
        text_parts=text_parts,
        cut=cut,
        wording=wording(lst.locale),
        markers=markers,
        web_url=archive_url(settings.base_url, lst.slug),
        subject_max=lst.subject_max_chars,
    )


def _part_helpers(cut: str) -> dict[str, Callable[[str], Markup]]:
    """part(name) … end(name) around a part, slot(name) where a per-variant value goes."""
    return {
        "part": lambda name: Markup(f"<!--{cut}:{name}-->"),
        "end": lambda name: Markup(f"<!--/{cut}:{name}-->"),
        "slot": lambda name: Markup(_slot(cut, name)),
    }


def _fresh_markers(content: IssueContent) -> tuple[Markers, str]:
    """Placeholders and a cut that occur nowhere in the issue's feed text (96 and 64 random
    bits make a clash all but impossible; checking costs a scan and makes it impossible)."""
    texts = [part for a in content.articles for part in (a.title, a.url, a.source, a.author,
                                                         a.summary_text, a.image or "")]
    lst = content.digest_list
    texts += [lst.name, lst.description, lst.intro, lst.postal_address, *(s.name for s in content.sections)]
    while True:
        markers, cut = Markers(), secrets.token_hex(8)
        if markers.absent_from(texts) and not any(cut in t for t in texts):
            return markers, cut
