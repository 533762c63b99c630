"""A section's articles as ranked stories, with ids that last and editors' decisions kept.

The one seam the issue builder calls for stories: `group_stories`. Clustering is
digest.topics.stories, over the whole window at once (word weights are learnt from
all of it) with sections as blocks (a story stays inside its section); this module
adds what makes stories usable over time:

- stable ids: a story keeps the id most of its articles had in the previous run,
  so an article arriving on Tuesday joins Monday's story (and its pin); a new
  story takes an id made from its first article;
- editors' merges and splits (store/stories.py) are must/cannot links;
- the lead is the richest report (text, then an image), the earliest on a tie;
- ranking: pinned stories first, then by score = number of sources + freshness
  (1 for now, 0 at the end of the list's window), so a story three sources carry
  outranks a fresher one only one source has.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from digest.content import Story
from digest.models import Article
from digest.store import Store
from digest.topics.stories import Doc, Settings, cluster


def group_stories(
    store: Store, list_slug: str, sections: dict[str, list[Article]], now: datetime, window: timedelta,
    ttl_seconds: int,
) -> dict[str, list[Story]]:
    """Each section's articles as stories, best first."""
    articles = [a for found in sections.values() for a in found]
    if not articles:
        return {slug: [] for slug in sections}
    blocks = [slug for slug, found in sections.items() for _ in found]
    index = {a.id: i for i, a in enumerate(articles)}
    settings = Settings()
    for (a, b), kind in store.story_links(list_slug).items():
        if a in index and b in index:
            (settings.must if kind == "must" else settings.cannot).add((index[a], index[b]))
    labels = cluster([Doc(a.title, a.summary_text, a.published) for a in articles], settings, blocks)
    groups: dict[int, list[Article]] = {}
    for article, label in zip(articles, labels, strict=True):
        groups.setdefault(label, []).append(article)
    stories = _name_stories(list(groups.values()), store.story_ids(list_slug, index))
    store.save_story_ids(list_slug, {a.id: s.id for s in stories for a in s.articles}, ttl_seconds)
    pins = store.pins(list_slug)
    section_of = dict(zip(index, blocks, strict=True))
    by_section: dict[str, list[Story]] = {slug: [] for slug in sections}
    for story in stories:
        story.pinned = story.id in pins
        by_section[section_of[story.lead.id]].append(story)
    return {slug: rank(found, now, window) for slug, found in by_section.items()}


def _name_stories(groups: list[list[Article]], previous: dict[str, str]) -> list[Story]:
    """Stories with the id most of their articles had before; bigger groups claim first."""
    taken: set[str] = set()
    stories = []
    for group in sorted(groups, key=len, reverse=True):
        votes = Counter(previous[a.id] for a in group if a.id in previous)
        story_id = next((s for s, _ in votes.most_common() if s not in taken), None)
        if story_id is None:
            first = min(group, key=lambda a: (a.published, a.id))
            story_id = f"s-{first.id[:12]}"
            while story_id in taken:  # a split-off article whose own id is taken
                story_id += "x"
        taken.add(story_id)
        stories.append(Story(story_id, sorted(group, key=_lead_key)))
    return stories


def _lead_key(article: Article) -> tuple[int, int, float, str]:
    """Sort key: the richest report first (text, then an image), the earliest on a tie."""
    return (-min(len(article.summary_text), 1000) // 100, 0 if article.image else 1,
            article.published.timestamp(), article.id)


def rank(stories: list[Story], now: datetime, window: timedelta) -> list[Story]:
    def score(story: Story) -> float:
        newest = max(a.published for a in story.articles)
        freshness = max(0.0, 1 - (now - newest) / window) if window else 0.0
        return story.sources + freshness

    return sorted(stories, key=lambda s: (not s.pinned, -score(s), s.id))
