"""Corrections of a list's next issue: what editors fix before it goes out.

The editors' app (web/corrections.py) and the command line (cli/drafts.py) call
these functions; each checks that what it names is in the list's next issue and
records the change in the list's audit log, with who made it. Two kinds:

- for the next issue only (store/drafts.py; planning the issue clears them, in
  deliver/send.py): leave an article out (it stays collected, and may go in a
  later issue), put a section's stories in an order (explicit positions beat the
  ranking), the subject, preheader and intro note;
- for good, since they teach the list: move an article to another topic
  (topics/filing.py `correct`: the grouping learns from it; `undo_topic` takes the
  newest back), split and merge stories (must/cannot links, store/stories.py), pin a story.

Everything goes through digest.issue.build_issue, which both the preview and the
sender call: the preview shows a correction at once, and what is sent is what
was previewed.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from babel.lists import format_list
from pydantic import ValidationError

from digest import audit
from digest.config import Settings
from digest.content import IssueContent, Section, Story
from digest.errors import InvalidInput, NotFound
from digest.issue import build_issue
from digest.models import MORE_NEWS, Article, DigestList
from digest.render import translations
from digest.render.words import fit_subject, wording
from digest.store import Store
from digest.store.drafts import Draft
from digest.topics.filing import correct

PREHEADER_MAX_CHARS = 150  # inboxes show 40 to 140 characters after the subject
MIN_PREFIX = 6  # an article named by a prefix of its id (as `digest stories ls` shows 12)

# Audit log actions.
PIN, UNPIN, EXCLUDE, INCLUDE, ORDER = "pin story", "unpin story", "exclude article", "include article", "order stories"
MOVE_TOPIC, UNDO_TOPIC = "move article to topic", "undo topic correction"
SPLIT, MERGE, WORDING = "split story", "merge stories", "edit wording"


@dataclass
class EditView:
    """The next issue as the corrections page shows it."""

    content: IssueContent
    draft: Draft
    excluded: list[Article]  # left out of the next issue, newest first
    topics: list[tuple[str, str]]  # (slug, name) an article can be moved to, More news last
    made_subject: str  # what the subject and preheader are without the editors' words
    made_preheader: str

    def topic_of(self, article: Article) -> tuple[str, float, bool]:
        """(topic slug, confidence, filed by an editor) of an article of the issue."""
        filing = self.content.filings.get(article.id)
        return (filing.primary, filing.confidence, filing.by == "editor") if filing else (MORE_NEWS, 0.0, False)


def next_content(store: Store, settings: Settings, list_slug: str, now: datetime | None = None) -> IssueContent:
    """The list's next issue as it stands (no rendering)."""
    digest_list = store.get_list(list_slug)
    more = translations(digest_list.locale).gettext("More news")
    return build_issue(store, settings, digest_list, now or datetime.now(timezone.utc), more_news_name=more)


def edit_view(store: Store, settings: Settings, list_slug: str, now: datetime | None = None) -> EditView:
    content = next_content(store, settings, list_slug, now)
    draft = store.draft(list_slug)
    lst = content.digest_list
    excluded = sorted(store.get_articles(draft.excluded), key=lambda a: a.published, reverse=True)
    names = lst.topic_names(translations(lst.locale).gettext("More news"))
    words = wording(lst.locale)
    leads = [s.stories[0].lead.title for s in content.sections if s.stories]
    count = sum(len(s.stories) for s in content.sections)
    shown = format_list([s.name for s in content.sections if s.stories], locale=lst.locale) if count else ""
    preheader = words["preheader_one" if count == 1 else "preheader"] % {"count": count, "sections": shown}
    return EditView(content, draft, excluded, [(slug, names[slug]) for slug in store.list_topics(lst)],
                    fit_subject(words["subject"], lst.name, leads, lst.subject_max_chars), preheader)


# -- finding what a form or a command names -------------------------------------------------

def find_story(content: IssueContent, story_id: str) -> tuple[Section, Story]:
    for section in content.sections:
        for story in section.stories:
            if story.id == story_id:
                return section, story
    raise NotFound("story of the next issue (it may have changed: reload the page)", story_id)


def find_article(articles: list[Article], id_or_prefix: str, where: str = "the next issue") -> Article:
    """An article of `articles` by its id or a unique prefix of it."""
    exact = [a for a in articles if a.id == id_or_prefix]
    found = exact or ([a for a in articles if a.id.startswith(id_or_prefix)] if len(id_or_prefix) >= MIN_PREFIX
                      else [])
    if len({a.id for a in found}) != 1:
        raise NotFound(f"article of {where}", id_or_prefix)
    return found[0]


# -- for the next issue only -------------------------------------------------------------------

def exclude(store: Store, settings: Settings, list_slug: str, article_id: str, by: str) -> Article:
    """Leave an article out of the next issue (its story goes on without it)."""
    article = find_article(next_content(store, settings, list_slug).articles, article_id)
    store.exclude_articles(list_slug, [article.id])
    audit.record(store, list_slug, by, EXCLUDE, _named(article))
    return article


def include(store: Store, list_slug: str, article_id: str, by: str) -> Article:
    """Put an article left out back in the next issue."""
    excluded = store.get_articles(store.draft(list_slug).excluded)
    article = find_article(excluded, article_id, "those left out of the next issue")
    store.exclude_articles(list_slug, [article.id], excluded=False)
    audit.record(store, list_slug, by, INCLUDE, _named(article))
    return article


def move_story(store: Store, settings: Settings, list_slug: str, story_id: str, step: int, by: str) -> int:
    """Move a story `step` places within its section (-1: up); returns its new place (0: first).
    The section's whole order is kept from then on: explicit positions beat the ranking."""
    section, story = find_story(next_content(store, settings, list_slug), story_id)
    ids = [s.id for s in section.stories]
    at = ids.index(story.id)
    to = max(0, min(len(ids) - 1, at + step))
    ids.insert(to, ids.pop(at))
    store.set_section_order(list_slug, section.slug, ids)
    audit.record(store, list_slug, by, ORDER, f"{section.slug}: {story.id} from {at + 1} to {to + 1}")
    return to


def order_section(store: Store, settings: Settings, list_slug: str, section_slug: str, story_ids: list[str],
                  by: str) -> list[str]:
    """Put these stories first in their section, in this order, the others after them as they stand
    (no stories: the section is ranked as usual again). Returns the section's new order."""
    content = next_content(store, settings, list_slug)
    section = next((s for s in content.sections if s.slug == section_slug), None)
    if section is None:
        raise NotFound(f"section of the next issue of {list_slug!r}", section_slug)
    current = [s.id for s in section.stories]
    unknown = [s for s in story_ids if s not in current]
    if unknown:
        raise NotFound(f"story of section {section_slug!r} of the next issue", unknown[0])
    chosen = list(dict.fromkeys(story_ids))
    order = [*chosen, *(s for s in current if s not in chosen)] if chosen else None
    store.set_section_order(list_slug, section_slug, order)
    audit.record(store, list_slug, by, ORDER, f"{section_slug}: {', '.join(order) if order else 'ranked'}")
    return order or current


def check_line(what: str, value: str, limit: int) -> str:
    """One line of text, at most `limit` characters: refused with line breaks or control characters
    (a subject goes in a mail header, where a line break would start a header of its own)."""
    value = value.strip()
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in value):
        raise InvalidInput(f"the {what} must be one line of text, without line breaks or control characters")
    if len(value) > limit:
        raise InvalidInput(f"the {what} has {len(value)} characters; at most {limit}")
    return value


def check_intro(digest_list: DigestList, value: str) -> str:
    """The intro by the list's own rule for it (one paragraph of printable text, 1,000 characters)."""
    try:
        return DigestList.model_validate({**digest_list.model_dump(), "intro": value}).intro
    except ValidationError:
        raise InvalidInput("the intro note has more than 1000 characters") from None


def edit_wording(store: Store, list_slug: str, by: str, *, subject: str | None = None,
                 preheader: str | None = None, intro: str | None = None) -> dict[str, str]:
    """Set the next issue's subject, preheader or intro note ("": back to the usual one); None
    leaves one as it is. Plain text: the templates escape it. Returns what changed."""
    digest_list = store.get_list(list_slug)
    given: dict[str, Any] = {"subject": subject, "preheader": preheader, "intro": intro}
    checked = {
        "subject": lambda v: check_line("subject", v, digest_list.subject_max_chars),
        "preheader": lambda v: check_line("preheader", v, PREHEADER_MAX_CHARS),
        "intro": lambda v: check_intro(digest_list, v),
    }
    values = {name: checked[name](value) for name, value in given.items() if value is not None}
    draft = store.draft(list_slug)
    changed = {name: value for name, value in values.items() if getattr(draft, name) != value}
    if changed:
        store.set_draft_wording(list_slug, **changed)
        audit.record(store, list_slug, by, WORDING,
                     "; ".join(f"{name}: {value or '(as usual)'}" for name, value in changed.items()))
    return changed


# -- for good: they teach the list -------------------------------------------------------------

def pin(store: Store, settings: Settings, list_slug: str, story_id: str, by: str, on: bool = True) -> Story:
    """Pin a story to the top of its section (it keeps its id as articles join it), or unpin it.
    An order the editors set for that section gives way, so the pin shows."""
    section, story = find_story(next_content(store, settings, list_slug), story_id)
    store.pin(list_slug, story.id, on=on)
    if section.slug in store.draft(list_slug).order:
        store.set_section_order(list_slug, section.slug, None)
    audit.record(store, list_slug, by, PIN if on else UNPIN, f"{story.id}: {story.lead.title}")
    return story


def move_to_topic(store: Store, settings: Settings, list_slug: str, article_id: str, topic: str, by: str) -> Article:
    """File an article of the next issue under another topic (or More news): it sticks, and the
    list's grouping learns from it (topics/filing.py)."""
    article = find_article(next_content(store, settings, list_slug).articles, article_id)
    correct(store, settings, list_slug, article.id, topic)
    audit.record(store, list_slug, by, MOVE_TOPIC, f"{_named(article)} -> {topic}")
    return article


def undo_topic(store: Store, list_slug: str, by: str) -> dict[str, Any] | None:
    """Take back the list's newest topic correction (None: there was none)."""
    store.get_list(list_slug)
    event = store.undo_correction(list_slug)
    if event is not None:
        before = event["before"]["topic"] if event["before"] else "the model's choice"
        audit.record(store, list_slug, by, UNDO_TOPIC,
                     f"{event['article'][:12]} {event['after']['title']}: {event['after']['topic']} -> {before}")
    return event


def split(store: Store, settings: Settings, list_slug: str, story_id: str, article_ids: list[str],
          by: str) -> list[Article]:
    """Take these articles out of a story, for good: they never join its other articles again
    (and stay one story among themselves)."""
    _, story = find_story(next_content(store, settings, list_slug), story_id)
    chosen = list({a.id: a for a in (find_article(story.articles, i, f"story {story_id}") for i in article_ids)}
                  .values())
    rest = [a for a in story.articles if a not in chosen]
    if not chosen or not rest:
        raise InvalidInput("name some of the story's articles, not all of them")
    store.link_articles(list_slug, [(a.id, b.id) for a in chosen for b in rest], "cannot")
    store.link_articles(list_slug, [(chosen[0].id, a.id) for a in chosen[1:]], "must")
    audit.record(store, list_slug, by, SPLIT, f"{story.id}: {', '.join(_named(a) for a in chosen)}")
    return chosen


def merge(store: Store, settings: Settings, list_slug: str, story_ids: list[str], by: str) -> Story:
    """Make these stories of the next issue one, for good (their articles are linked, whatever
    the clustering says). Returns the first story named."""
    content = next_content(store, settings, list_slug)
    stories = list({s.id: s for s in (find_story(content, i)[1] for i in story_ids)}.values())
    if len(stories) < 2:
        raise InvalidInput("name at least two different stories to merge")
    first = stories[0].lead.id
    store.link_articles(list_slug, [(first, a.id) for s in stories for a in s.articles], "must")
    audit.record(store, list_slug, by, MERGE, " + ".join(f"{s.id} ({s.lead.title})" for s in stories))
    return stories[0]


def _named(article: Article) -> str:
    return f"{article.id[:12]} {article.title}"
