"""Which language an article is written in.

py3langid (a maintained fork of langid.py: a naive Bayes model over byte
n-grams for 97 languages, shipped in its 4.6 MB wheel, numpy only) reads the
title and the start of the text. Too little text to tell gives "" (unknown):
the list's own language is assumed where one is needed.
"""

from __future__ import annotations

import threading

from digest.blas import one_thread

MIN_LETTERS = 12  # fewer letters than this: not enough to tell
SAMPLE_CHARS = 400  # langid's time grows with every character; 400 are still plenty to tell

_lock = threading.Lock()
_identifier = None


def detect_language(title: str, text: str) -> str:
    """An ISO 639-1 code such as "en" or "es", or "" when there is too little text."""
    global _identifier
    sample = f"{title}. {text[:SAMPLE_CHARS]}"
    if not _has_letters(sample, MIN_LETTERS):
        return ""
    if _identifier is None:
        with _lock:
            if _identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                # One small vector-matrix product per article: OpenBLAS's hand-off to its
                # other threads doubled the wall time of each (0.46 s -> 0.27 s for 3,000
                # articles with one thread).
                one_thread()
                _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    code, probability = _identifier.classify(sample)  # classify keeps no state: threads need no lock
    return str(code) if probability >= 0.5 else ""


def _has_letters(sample: str, enough: int) -> bool:
    """Whether `sample` has `enough` letters, read only as far as it takes to find them."""
    for ch in sample:
        if ch.isalpha():
            enough -= 1
            if enough <= 0:
                return True
    return False
