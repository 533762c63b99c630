"""Assigning a list's articles to its topics: the classifier on the list's window.

`assign_window` is what filing (and `digest topics eval`) call: it runs the
classifier (digest.topics.classifier) over the whole window as the unlabelled
stream, with the list's corrections as labelled examples, and returns a Filing
for each article asked about.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from digest.models import MORE_NEWS, Article, DigestList, Filing
from digest.topics import classifier
from digest.topics.embedding import article_text


def assign_window(
    digest_list: DigestList, articles: list[Article], window: list[Article], corrections: dict[str, Any],
    vectors: dict[str, np.ndarray],
) -> dict[str, Filing]:
    """Filings for `articles`, learnt on `window` (which holds them) and the corrections.

    `vectors` holds the embedding of every article of the window and of every
    corrected article (by article id); `corrections` maps article id to
    {topic, title, text}, as store.corrections gives it.
    """
    slugs = [t.slug for t in digest_list.topics]
    if not articles:
        return {}
    if not slugs:
        return {a.id: Filing(MORE_NEWS, 0.0) for a in articles}
    stream = list({a.id: a for a in [*window, *articles]}.values())
    texts = [article_text(a.title, a.summary_text) for a in stream]
    matrix = np.stack([vectors[a.id] for a in stream])
    labelled = [classifier.Labelled(vectors[i], article_text(c["title"], c["text"]), slugs.index(c["topic"]))
                for i, c in corrections.items() if c["topic"] in slugs and i in vectors]
    languages = [a.language or digest_list.locale for a in stream]  # each stemmed in its own language
    found = classifier.assign(digest_list.topics, matrix, texts, languages, labelled)
    by_id = dict(zip((a.id for a in stream), found, strict=True))
    filings = {}
    for article in articles:
        a = by_id[article.id]
        primary = slugs[a.topic] if a.topic is not None else MORE_NEWS
        filings[article.id] = Filing(primary, round(a.confidence, 4), tuple(slugs[t] for t in a.secondary))
    return filings
