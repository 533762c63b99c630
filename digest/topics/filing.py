"""Filing: where each article of a list's window goes. The one seam the issue builder calls.

`file_window` returns a Filing for every article: stored ones as they are (an
editor's correction always wins), and the others assigned now, from the list's
topics, its editors' corrections and the window itself, then stored. Changing a
list's topics or correcting an article clears the model's filings
(store/topics.py), so the next call files the whole window again.
"""

from __future__ import annotations

from digest.config import Settings
from digest.errors import NotFound
from digest.models import Article, DigestList, Filing
from digest.store import Store
from digest.topics.assign import assign_window


def file_window(store: Store, settings: Settings, digest_list: DigestList, window: list[Article]) -> dict[str, Filing]:
    filings = store.filings(digest_list.slug, (a.id for a in window))
    missing = [a for a in window if a.id not in filings]
    if missing:
        new = assign_window(digest_list, missing, window, store.corrections(digest_list.slug))
        store.file(digest_list.slug, new, settings.article_ttl_days * 86400)
        filings.update(new)
    return filings


def correct(store: Store, settings: Settings, list_slug: str, article_id: str, topic: str) -> Article:
    """An editor files an article (id or unique id prefix) under a topic of the list, or More news.

    The CLI and the editors' web app call this. The model's filings of the list are
    cleared, so the next issue, preview or `file_window` learns from it.
    """
    digest_list = store.get_list(list_slug)
    if topic not in store.list_topics(digest_list):
        raise NotFound(f"topic of list {list_slug!r}", topic)
    article = store.find_article(article_id)
    store.correct(list_slug, article.id, topic, article.title, article.summary_text)
    return article
