"""Filing: where each article of a list's window goes. The one seam the issue builder calls.

`file_window` returns a Filing for every article: stored ones as they are (an
editor's correction always wins), and the others assigned now, from the list's
topics, its editors' corrections and the window itself, then stored. Changing a
list's topics or correcting an article clears the model's filings
(store/topics.py), so the next call files the whole window again.
"""

from __future__ import annotations

import numpy as np

from digest.config import Settings
from digest.errors import NotFound
from digest.models import Article, DigestList, Filing
from digest.store import Store
from digest.topics.assign import assign_window
from digest.topics.embedding import article_text, embed


def file_window(store: Store, settings: Settings, digest_list: DigestList, window: list[Article]) -> dict[str, Filing]:
    filings = store.filings(digest_list.slug, (a.id for a in window))
    missing = [a for a in window if a.id not in filings]
    if missing:
        corrections = store.corrections(digest_list.slug)
        texts = {a.id: article_text(a.title, a.summary_text) for a in window}
        texts.update({i: article_text(c["title"], c["text"]) for i, c in corrections.items()})
        vectors = ensure_vectors(store, texts, settings.article_ttl_days * 86400)
        new = assign_window(digest_list, missing, window, corrections, vectors)
        store.file(digest_list.slug, new, settings.article_ttl_days * 86400)
        filings.update(new)
    return filings


def ensure_vectors(store: Store, texts: dict[str, str], ttl_seconds: int) -> dict[str, np.ndarray]:
    """The embedding of each article (id -> text to embed): cached ones, the others made and cached."""
    vectors = store.vectors(texts)
    missing = [i for i in texts if i not in vectors]
    if missing:
        made = embed([texts[i] for i in missing])
        fresh = dict(zip(missing, made, strict=True))
        store.save_vectors(fresh, ttl_seconds)
        vectors.update(fresh)
    return vectors


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
