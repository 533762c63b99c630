"""Words as the classifier and the stories count them, and the one-BLAS-thread rule of grouping."""

from __future__ import annotations

import subprocess
import sys

from digest.topics.terms import analyzer


def test_words_fold_case_and_accents_in_any_script():
    french = analyzer("fr")
    assert french("Élection PRÉSIDENTIELLE à Besançon") == french("election presidentielle a besancon")
    assert analyzer(None)("Tiếng Việt, Ελληνικά") == ["tieng", "viet", "ελληνικα", "tieng viet", "viet ελληνικα"]
    assert analyzer("en")("The markets fell") == ["the", "market", "fell", "the market", "market fell"]


def test_grouping_runs_blas_on_one_thread():
    """OpenBLAS's threads cost the self-training more CPU than they saved (digest/blas.py)."""
    code = """
import numpy as np
from threadpoolctl import threadpool_info
from digest.models import Topic
from digest.topics import classifier
vectors = np.eye(4, 512, dtype=np.float32)
topics = [Topic(slug=s, name=s, description=s) for s in ("a", "b")]
classifier.assign(topics, vectors, ["a", "b", "c", "d"], "en", prototypes=np.eye(2, 512, dtype=np.float32))
print(sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"OPENBLAS_NUM_THREADS": "2", "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "[1]"
