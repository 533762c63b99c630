"""Stories: articles from different sources about the same event, merged into one.

`cluster` groups a list of documents (title and text, optionally a time and a
dense vector each) into stories:

1. every document becomes a TF-IDF vector of its words (title counted twice; the
   weights are learnt from the documents themselves, so it works in any language
   that separates words with spaces), and optionally a dense sentence vector;
2. the similarity of two documents is their cosine (the mean of the TF-IDF and
   dense cosines when both are there); documents further apart in time than
   `window` are never similar, so two earthquakes weeks apart stay two stories;
3. average-linkage agglomerative clustering merges the most similar groups while
   their average similarity is at least `threshold`. Near-identical copies
   (syndication) are the most similar pairs of all, so they merge first; different
   articles about one event merge next; two events of one subject (two trials of
   one team) share fewer specific words than the threshold asks.

Editors' decisions win: `must` pairs end in one story, `cannot` pairs never do.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

# Defaults, fixed by reasoning rather than fitted to a data set: see the README's
# "Stories" note for how they were measured.
THRESHOLD = 0.2
WINDOW = timedelta(days=4)

_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class Doc:
    title: str
    text: str
    when: datetime | None = None
    vector: np.ndarray | None = None  # a unit-length sentence embedding, if any


@dataclass
class Settings:
    threshold: float = THRESHOLD
    window: timedelta | None = WINDOW
    must: set[tuple[int, int]] = field(default_factory=set)  # pairs of document indexes
    cannot: set[tuple[int, int]] = field(default_factory=set)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _terms(doc: Doc, text_chars: int = 2000) -> Counter[str]:
    title = _WORD.findall(_fold(doc.title))
    body = _WORD.findall(_fold(doc.text[:text_chars]))
    words = [w for w in [*title, *title, *body] if len(w) > 2 or w.isdigit()]
    return Counter(words)


def tfidf(docs: Sequence[Doc]) -> np.ndarray:
    """Unit-length TF-IDF rows (sublinear tf, smoothed idf) over the documents' own vocabulary."""
    counts = [_terms(d) for d in docs]
    df: Counter[str] = Counter()
    for c in counts:
        df.update(c.keys())
    n = len(docs)
    # Every word counts (words in one document only keep short documents from looking
    # alike); a word in every document weighs nothing.
    vocab = {w: i for i, w in enumerate(df)}
    matrix = np.zeros((n, len(vocab)), dtype=np.float32)
    for row, c in enumerate(counts):
        for word, k in c.items():
            col = vocab.get(word)
            if col is not None:
                matrix[row, col] = (1 + math.log(k)) * math.log((1 + n) / (1 + df[word]))
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


def _dense(docs: Sequence[Doc]) -> np.ndarray | None:
    if docs and all(d.vector is not None for d in docs):
        return np.stack([d.vector for d in docs]).astype(np.float32)  # type: ignore[misc]
    return None


def _similar_block(
    rows: slice, sparse: np.ndarray, dense: np.ndarray | None, times: np.ndarray, blocks: np.ndarray,
    window: timedelta | None,
) -> np.ndarray:
    """Similarities of documents `rows` to every document: cosine, 0 across blocks or time windows."""
    sim = sparse[rows] @ sparse.T
    if dense is not None:
        sim = (sim + dense[rows] @ dense.T) / 2
    apart = blocks[rows, None] != blocks[None, :]
    if window is not None:
        # NaN (no date) compares False: a document without a date is never kept apart for it
        apart |= np.abs(times[rows, None] - times[None, :]) > window.total_seconds()
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
    sparse, dense = tfidf(docs), _dense(docs)
    times = np.array([d.when.timestamp() if d.when else np.nan for d in docs])
    codes = {b: i for i, b in enumerate(dict.fromkeys(blocks))} if blocks is not None else {}
    block_ids = np.array([codes[b] for b in blocks]) if blocks is not None else np.zeros(n, dtype=int)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    step = 512
    for start in range(0, n, step):
        rows = slice(start, min(n, start + step))
        sim = _similar_block(rows, sparse, dense, times, block_ids, settings.window)
        for a, b in zip(*np.nonzero(sim >= settings.threshold), strict=True):
            a += start
            if a < b:
                parent[find(a)] = find(int(b))
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
        sim = _similar_block(idx, sparse, dense, times, block_ids, settings.window)[:, idx].astype(np.float64)
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
    n = len(sim)
    size = np.ones(n)
    alive = np.ones(n, dtype=bool)
    members: list[list[int]] = [[i] for i in range(n)]
    work = sim.copy()
    np.fill_diagonal(work, -np.inf)
    while True:
        masked = np.where(alive[:, None] & alive[None, :], work, -np.inf)
        flat = int(np.argmax(masked))
        a, b = divmod(flat, n)
        if masked[a, b] < threshold:
            break
        # Merge b into a: the new group's similarity to each other group is the
        # size-weighted mean of a's and b's (average linkage, Lance-Williams).
        merged = (work[a] * size[a] + work[b] * size[b]) / (size[a] + size[b])
        work[a, :] = merged
        work[:, a] = merged
        work[a, a] = -np.inf
        size[a] += size[b]
        alive[b] = False
        members[a] += members[b]
        members[b] = []
    label = [0] * n
    order = sorted((min(m), i) for i, m in enumerate(members) if m)
    for number, (_first, i) in enumerate(order):
        for j in members[i]:
            label[j] = number
    return label
