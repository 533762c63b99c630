"""One issue of a list: which articles, in which sections, in which order.

`build_issue` is pure selection (no rendering); `next_issue` adds rendering, and
is what both the editors' preview and the sender call, so the preview is exactly
what goes out.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from digest.config import Settings
from digest.content import IssueContent, Section
from digest.models import MORE_NEWS, Article, DigestList
from digest.render import RenderedIssue, render_issue, translations
from digest.store import Store


def build_issue(
    store: Store, digest_list: DigestList, now: datetime, more_news_name: str = "More news",
) -> IssueContent:
    """Articles of the list's window, each in the first of its topics the list carries."""
    start = now - timedelta(days=digest_list.window_days)
    carried = store.list_topics(digest_list)  # ordered, "more" last
    names = {t.slug: t.name for t in store.topics()}
    names[MORE_NEWS] = more_news_name
    buckets: dict[str, list[Article]] = {slug: [] for slug in carried}
    for article in store.articles_between(start, now):  # newest first
        if digest_list.feeds and article.feed_id not in digest_list.feeds:
            continue
        home = next((t for t in article.topics if t in buckets and t != MORE_NEWS), MORE_NEWS)
        buckets[home].append(article)
    sections = [
        Section(slug, names.get(slug, slug), found[: digest_list.max_per_section])
        for slug, found in buckets.items()
        if found
    ]
    return IssueContent(digest_list, now, sections)


def next_issue(
    store: Store, settings: Settings, list_slug: str, now: datetime | None = None,
) -> tuple[IssueContent, RenderedIssue]:
    """The list's next issue as it stands now: its content, and the content rendered."""
    now = now or datetime.now(timezone.utc)
    digest_list = store.get_list(list_slug)
    more = translations(digest_list.locale).gettext("More news")
    content = build_issue(store, digest_list, now, more_news_name=more)
    return content, render_issue(content, settings)
