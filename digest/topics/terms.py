"""Words as the topic classifier and the story clustering count them, and TF-IDF rows of them.

Both learn their word weights from the articles at hand; this is the one place
that turns text into terms and term counts into unit-length TF-IDF rows.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from itertools import chain, repeat

import numpy as np
from scipy import sparse as sp

STEMMER_LANGUAGES = {"en": "english", "es": "spanish", "fr": "french", "de": "german", "it": "italian",
                     "pt": "portuguese", "nl": "dutch"}
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def _fold(text: str) -> str:
    """Case-folded, without accents (NFKD, combining marks dropped)."""
    folded = text.casefold()
    if folded.isascii():  # nothing to decompose: most English text, at C speed
        return folded
    decomposed = unicodedata.normalize("NFKD", folded)
    marks = [ord(ch) for ch in set(decomposed) if unicodedata.combining(ch)]
    return decomposed.translate(dict.fromkeys(marks)) if marks else decomposed


def analyzer(language: str | None) -> Callable[[str], list[str]]:
    """Stemmed words and word pairs in `language` (no stemming for a language without a stemmer)."""
    import snowballstemmer

    name = STEMMER_LANGUAGES.get((language or "")[:2])
    stem = snowballstemmer.stemmer(name).stemWord if name else (lambda w: w)
    memo: dict[str, str] = {}

    def terms(text: str) -> list[str]:
        words = []
        for w in _WORD.findall(_fold(text)):
            if len(w) > 1:
                s = memo.get(w)
                if s is None:
                    s = memo[w] = stem(w)
                words.append(s)
        return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
    return terms


def tfidf_rows(
    counts: Sequence[Counter[str]], vocabulary: dict[str, int], idf: np.ndarray, dtype: type = np.float64,
) -> sp.csr_matrix:
    """Unit-length rows of sublinear tf times `idf`, over `vocabulary` (other terms are dropped)."""
    # map/fromiter over the terms rather than a comprehension: this runs once per distinct
    # term of every document, millions of times for a window of full articles.
    ids = np.fromiter(map(vocabulary.get, chain.from_iterable(counts), repeat(-1)), dtype=np.int64)
    tf = np.fromiter(chain.from_iterable(c.values() for c in counts), dtype=np.float64, count=len(ids))
    rows = np.repeat(np.arange(len(counts)), np.fromiter(map(len, counts), dtype=np.int64, count=len(counts)))
    kept = ids >= 0
    values = (1 + np.log(tf[kept])) * idf[ids[kept]]
    matrix = sp.csr_matrix((values, (rows[kept], ids[kept])), shape=(len(counts), len(vocabulary)), dtype=dtype)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    return sp.csr_matrix(sp.diags(1 / np.where(norms == 0, 1, norms)) @ matrix)
