"""What an issue holds, as plain data: sections of articles for one list at one moment.

It lives below both the issue builder (digest.issue, which fills it) and the
renderer (digest.render, which draws it), so the imports run one way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from digest.models import Article, DigestList


@dataclass
class Section:
    slug: str
    name: str
    articles: list[Article] = field(default_factory=list)


@dataclass
class IssueContent:
    digest_list: DigestList
    now: datetime
    sections: list[Section]

    @property
    def is_empty(self) -> bool:
        return not any(s.articles for s in self.sections)

    @property
    def articles(self) -> list[Article]:
        return [a for s in self.sections for a in s.articles]
