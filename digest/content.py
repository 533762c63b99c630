"""What an issue holds, as plain data: sections of stories for one list at one moment.

A story is one event as one or more sources reported it: its lead article is
shown as the card, the others as "also covered by" links. It lives below both the
issue builder (digest.issue, which fills it) and the renderer (digest.render,
which draws it), so the imports run one way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from digest.models import Article, DigestList, Filing


@dataclass
class Story:
    id: str
    articles: list[Article]  # the lead first, then the other sources
    pinned: bool = False

    @property
    def lead(self) -> Article:
        return self.articles[0]

    @property
    def also(self) -> list[Article]:
        return self.articles[1:]

    @property
    def sources(self) -> int:
        return len({a.source for a in self.articles})


@dataclass
class Section:
    slug: str
    name: str
    stories: list[Story] = field(default_factory=list)  # stories whose primary topic this is
    # Stories of other sections that belong here too (their lead's secondary topic), by
    # their primary section: shown here only to readers who did not choose that one.
    secondary: dict[str, list[Story]] = field(default_factory=dict)

    @property
    def articles(self) -> list[Article]:
        """The lead article of each story: the cards the section shows."""
        return [s.lead for s in self.stories]


@dataclass
class IssueContent:
    digest_list: DigestList
    now: datetime
    sections: list[Section]
    filings: dict[str, Filing] = field(default_factory=dict)  # article id -> where and how surely it was filed
    # The editors' subject and preheader for this issue ("": made from its stories) and the revision
    # of their edits it was built from (digest/editors/corrections.py; planning clears that revision).
    subject: str = ""
    preheader: str = ""
    edits_rev: int = 0

    @property
    def is_empty(self) -> bool:
        return not any(s.stories for s in self.sections)

    @property
    def articles(self) -> list[Article]:
        """Every article the issue shows, leads and "also covered by" alike."""
        return [a for s in self.sections for story in s.stories for a in story.articles]
