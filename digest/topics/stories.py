"""Stories: articles from different sources about the same event, merged into one.

`cluster` groups documents (title and text, optionally a time each) into stories:

1. each document is read as its title and the first TEXT_CHARS of its text, and
   three TF-IDF views of it are made, each learnt from the documents themselves
   (so it works in any language that separates words with spaces):
   its words (stemmed, and pairs of words), the character 3- to 5-grams inside its
   words (robust to inflection, transliteration and typos), and its names and
   numbers (capitalised phrases and figures: who, where, how many);
2. the similarity of two documents is the mean of the three cosines; documents
   further apart in time than `window` are never similar, so two earthquakes
   weeks apart stay two stories;
3. average-linkage agglomerative clustering merges the most similar groups while
   their average similarity is at least `threshold`. Near-identical copies
   (syndication) are the most similar pairs of all, so they merge first; different
   articles about one event merge next; two events of one subject (two trials of
   one team) share fewer names and figures than the threshold asks.

Dense sentence embeddings are left out on purpose: they encode the subject, not
the event, and made merging worse in our measurements (README, "Stories").
THRESHOLD was chosen on one half of the ECB+ topics and confirmed on the other
half (both ways), not on the whole set.

Editors' decisions win: `must` pairs end in one story, `cannot` pairs never do.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np
from scipy import sparse as sp

from digest.blas import one_thread
from digest.topics.embedding import article_text
from digest.topics.terms import analyzer, tfidf_rows

THRESHOLD = 0.17
WINDOW = timedelta(days=4)
TEXT_CHARS = 1500
# A term in more than this share of the documents says nothing about which of
# them tell one event, nor does a character n-gram found in one document only.
# Both cuts apply once there are enough documents to tell: in a handful, they
# would leave only the words the documents share, and every pair would look alike.
MAX_DF = {"words": 0.5, "chars": 0.5, "names": 0.3}
MIN_DOCS_FOR_DF_CUTS = 20

_NAME = re.compile(r"\b(?:[A-Z][\w'\-]+(?:\s+[A-Z][\w'\-]+)*|\d[\d,.:]*)\b")


@dataclass
class Doc:
    title: str
    text: str
    when: datetime | None = None
    language: str | None = None


@dataclass
class Settings:
    threshold: float = THRESHOLD
    window: timedelta | None = WINDOW
    must: set[tuple[int, int]] = field(default_factory=set)  # pairs of document indexes
    cannot: set[tuple[int, int]] = field(default_factory=set)


def _char_grams(text: str) -> list[str]:
    """Character 3- to 5-grams inside each word, the word padded with spaces."""
    grams: list[str] = []
    for word in text.lower().split():
        grams += _word_grams(word)
    return grams


@lru_cache(maxsize=200_000)
def _word_grams(word: str) -> list[str]:
    padded = f" {word} "
    return [padded[i:i + n] for n in (3, 4, 5) for i in range(len(padded) - n + 1)]


def _names(text: str) -> list[str]:
    return [m.group(0).lower() for m in _NAME.finditer(text)]


def _tfidf(texts: Sequence[str], terms: Callable[[str], list[str]], max_df: float, min_df: int) -> sp.csr_matrix:
    """Unit-length rows: sublinear tf times smoothed idf, over the texts' own vocabulary."""
    counts = [Counter(terms(t)) for t in texts]
    df: Counter[str] = Counter()
    for c in counts:
        df.update(c.keys())
    n = len(texts)
    floor, ceiling = (min_df, max_df * n) if n >= MIN_DOCS_FOR_DF_CUTS else (1, n)
    words = [w for w, k in df.items() if floor <= k <= ceiling]
    idf = np.log((1 + n) / (1 + np.array([df[w] for w in words], dtype=np.float64))) + 1
    return tfidf_rows(counts, {w: i for i, w in enumerate(words)}, idf, np.float32)


def views(docs: Sequence[Doc]) -> list[sp.csr_matrix]:
    """The three TF-IDF views of the documents: words, character n-grams, names and numbers."""
    texts = [article_text(d.title, d.text, TEXT_CHARS) for d in docs]
    languages = [d.language for d in docs if d.language]
    words = analyzer(Counter(languages).most_common(1)[0][0] if languages else None)
    return [
        _tfidf(texts, words, MAX_DF["words"], 1),
        _tfidf(texts, _char_grams, MAX_DF["chars"], 2),
        _tfidf(texts, _names, MAX_DF["names"], 1),
    ]


def _similar(
    rows: np.ndarray, cols: np.ndarray, matrices: list[sp.csr_matrix], times: np.ndarray, blocks: np.ndarray,
    window: timedelta | None,
) -> np.ndarray:
    """Similarities of documents `rows` to documents `cols`: the mean cosine of the views,
    0 across blocks or time windows."""
    # Row slices only: slicing columns of a transposed matrix scans all of it each time.
    sim = sum((m[rows] @ m[cols].T).toarray() for m in matrices) / len(matrices)
    apart = blocks[rows, None] != blocks[None, cols]
    if window is not None:
        # NaN (no date) compares False: a document without a date is never kept apart for it
        apart |= np.abs(times[rows, None] - times[None, cols]) > window.total_seconds()
    return np.where(apart, 0.0, sim)


def cluster(docs: Sequence[Doc], settings: Settings | None = None, blocks: Sequence[object] | None = None) -> list[int]:
    """A story number for each document (0, 1, ... in order of first appearance).

    Documents in different `blocks` (say, sections) never share a story. Exact
    average linkage, computed per connected component of the pairs at or above the
    threshold: two groups whose average similarity reaches the threshold have at
    least one such pair, so no story can span two components. That keeps the cost
    near linear for a window of thousands of articles.
    """
    settings = settings or Settings()
    n = len(docs)
    if n == 0:
        return []
    one_thread()
    matrices = views(docs)
    times = np.array([d.when.timestamp() if d.when else np.nan for d in docs])
    codes = {b: i for i, b in enumerate(dict.fromkeys(blocks))} if blocks is not None else {}
    block_ids = np.array([codes[b] for b in blocks]) if blocks is not None else np.zeros(n, dtype=int)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # Pairs at or above the threshold, block by block: documents of different blocks are
    # never alike, so only each block's own square is computed (a sixth of the products
    # for a window filed under six topics).
    step = 512
    for block in np.unique(block_ids):
        members = np.flatnonzero(block_ids == block)
        if len(members) < 2:
            continue
        for start in range(0, len(members), step):
            rows = members[start:start + step]
            sim = _similar(rows, members, matrices, times, block_ids, settings.window)
            for a, b in zip(*np.nonzero(sim >= settings.threshold), strict=True):
                a, b = int(rows[a]), int(members[b])
                if a < b:
                    parent[find(a)] = find(b)
    for a, b in settings.must:
        parent[find(a)] = find(b)
    components: dict[int, list[int]] = {}
    for i in range(n):
        components.setdefault(find(i), []).append(i)
    label = [0] * n
    groups: list[list[int]] = []
    for members in components.values():
        if len(members) == 1:
            groups.append(members)
            continue
        idx = np.array(members)
        sim = _similar(idx, idx, matrices, times, block_ids, settings.window).astype(np.float64)
        local = {m: k for k, m in enumerate(members)}
        for a, b in settings.must:
            if a in local and b in local:
                sim[local[a], local[b]] = sim[local[b], local[a]] = 2.0  # above any threshold: merged first
        for a, b in settings.cannot:
            if a in local and b in local:  # an average with -inf never reaches the threshold
                sim[local[a], local[b]] = sim[local[b], local[a]] = -np.inf
        sub = _average_linkage(sim, settings.threshold)
        for k in set(sub):
            groups.append([m for m, s in zip(members, sub, strict=True) if s == k])
    for number, group in enumerate(sorted(groups, key=min)):
        for i in group:
            label[i] = number
    return label


def _average_linkage(sim: np.ndarray, threshold: float) -> list[int]:
    """Agglomerative clustering, average linkage, stopped below `threshold`.

    Each row keeps its best partner, so a merge costs O(n) plus a rescan of the
    rows whose best partner was one of the two merged groups.
    """
    n = len(sim)
    work = sim.copy()
    np.fill_diagonal(work, -np.inf)
    size = np.ones(n)
    alive = np.ones(n, dtype=bool)
    members: list[list[int]] = [[i] for i in range(n)]
    best_val = work.max(axis=1)
    best_idx = work.argmax(axis=1)
    while True:
        a = int(np.argmax(best_val))
        if not best_val[a] >= threshold:
            break
        b = int(best_idx[a])
        # The merged group's similarity to each other group is the size-weighted
        # mean of a's and b's (average linkage, Lance-Williams).
        merged = (work[a] * size[a] + work[b] * size[b]) / (size[a] + size[b])
        merged[~alive] = -np.inf
        merged[[a, b]] = -np.inf
        work[a, :] = merged
        work[:, a] = merged
        work[b, :] = -np.inf
        work[:, b] = -np.inf
        size[a] += size[b]
        alive[b] = False
        best_val[b] = -np.inf
        members[a] += members[b]
        members[b] = []
        stale = np.flatnonzero(alive & ((best_idx == a) | (best_idx == b)))
        for r in {*stale.tolist(), a}:
            best_idx[r] = int(np.argmax(work[r]))
            best_val[r] = work[r, best_idx[r]]
        better = alive & (merged > best_val)
        best_val[better] = merged[better]
        best_idx[better] = a
    label = [0] * n
    order = sorted((min(m), i) for i, m in enumerate(members) if m)
    for number, (_first, i) in enumerate(order):
        for j in members[i]:
            label[j] = number
    return label
