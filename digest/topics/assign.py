"""Keyword and category matching, title over body.

An article scores for a topic when the feed's own categories name it (its slug,
name or a keyword), and for each keyword found as a whole word: in the title it
counts three times what it counts in the body. Topics come back best first;
none means "More news".
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

from digest.models import MORE_NEWS, Article, DigestList, Filing, Topic

CATEGORY_WEIGHT = 4
TITLE_WEIGHT = 3
BODY_WEIGHT = 1
THRESHOLD = 2  # one body mention alone is not enough; a title or category match is


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=4096)
def _word(keyword: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, _fold(keyword).split())) + r"(?!\w)")


def _score(topic: Topic, title: str, body: str, categories: set[str]) -> int:
    names = {_fold(topic.slug), _fold(topic.name), *(_fold(k) for k in topic.keywords)}
    score = CATEGORY_WEIGHT if names & categories else 0
    for keyword in topic.keywords:
        pattern = _word(keyword)
        score += TITLE_WEIGHT * len(pattern.findall(title)) + BODY_WEIGHT * min(3, len(pattern.findall(body)))
    return score


def assign_topics(article: Article, topics: list[Topic]) -> list[str]:
    """Topic slugs for an article, best first; [] when nothing matches well enough."""
    title = _fold(article.title)
    body = _fold(article.summary_text)
    categories = {_fold(c).strip() for c in article.categories}
    scored = [(_score(t, title, body, categories), t.slug) for t in topics]
    return [slug for score, slug in sorted(scored, key=lambda s: (-s[0], s[1])) if score >= THRESHOLD]


def assign_window(
    digest_list: DigestList, articles: list[Article], window: list[Article], corrections: dict[str, Any],
) -> dict[str, Filing]:
    """A Filing for each of `articles`, from the list's topics."""
    filings = {}
    for article in articles:
        found = assign_topics(article, digest_list.topics)
        filings[article.id] = Filing(found[0], 1.0, tuple(found[1:])) if found else Filing(MORE_NEWS, 0.0)
    return filings
