"""Evaluation as a feature: how well a topic file and the story settings do on labelled data.

Editors run these on a sample of their own articles (`digest topics eval`,
`digest stories eval`); the project runs them on public sets. The data is a CSV
with a header and at least `title,text` plus `label` (topics: the topic's name or
slug) or `cluster_id` (stories). `evaluate_topics` assigns through the same
function filing uses (digest.topics.assign), so what is measured is what runs.
"""

from __future__ import annotations

import csv
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path

from digest.errors import InvalidInput
from digest.models import MORE_NEWS, Topic


@dataclass(frozen=True)
class Labelled:
    id: str
    title: str
    text: str
    label: str  # a topic slug, or a story's cluster id


def read_labelled(path: Path, column: str) -> list[Labelled]:
    """Rows of a labelled CSV; `column` names the label (label or cluster_id)."""
    csv.field_size_limit(sys.maxsize)
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            missing = {"title", "text", column} - set(reader.fieldnames or ())
            if missing:
                raise InvalidInput(f"{path}: missing column(s) {', '.join(sorted(missing))}")
            rows = [Labelled(str(r.get("id") or n), r["title"] or "", r["text"] or "", r[column])
                    for n, r in enumerate(reader, 1)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"{path}: cannot read it: {exc}") from None
    if not rows:
        raise InvalidInput(f"{path}: no rows")
    return rows


def _key(name: str) -> str:
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def label_to_slug(rows: list[Labelled], topics: list[Topic]) -> list[Labelled]:
    """Labels name topics by name or slug, in any case and punctuation ("Sci/Tech" names
    `scitech`); every label must name one."""
    by_key = {_key(k): t.slug for t in topics for k in (t.slug, t.name)}
    unknown = sorted({r.label for r in rows if _key(r.label) not in by_key})
    if unknown:
        raise InvalidInput(f"labels that name no topic of the topic file: {', '.join(unknown[:10])}")
    return [Labelled(r.id, r.title, r.text, by_key[_key(r.label)]) for r in rows]


@dataclass
class TopicScores:
    accuracy: float
    macro_f1: float
    more_news: float  # share of articles sent to "More news" (each counts as wrong)
    per_topic: dict[str, tuple[float, float, float, int]]  # slug -> precision, recall, F1, support

    def report(self) -> str:
        lines = [f"{'topic':<24} {'precision':>9} {'recall':>7} {'F1':>6} {'support':>8}"]
        for slug, (p, r, f, n) in self.per_topic.items():
            lines.append(f"{slug:<24} {p:>9.3f} {r:>7.3f} {f:>6.3f} {n:>8}")
        lines.append(f"accuracy {self.accuracy:.4f} macro-F1 {self.macro_f1:.4f} more-news {self.more_news:.4f}")
        return "\n".join(lines)


def score_topics(gold: Sequence[str], predicted: Sequence[str], slugs: Sequence[str]) -> TopicScores:
    """Accuracy, macro-F1 over the topics (More news is a miss, never a class) and per-topic figures."""
    pairs = list(zip(gold, predicted, strict=True))
    per: dict[str, tuple[float, float, float, int]] = {}
    for slug in slugs:
        tp = sum(1 for g, p in pairs if g == slug and p == slug)
        fp = sum(1 for g, p in pairs if g != slug and p == slug)
        fn = sum(1 for g, p in pairs if g == slug and p != slug)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per[slug] = (precision, recall, f1, tp + fn)
    n = len(pairs) or 1
    return TopicScores(
        accuracy=sum(1 for g, p in pairs if g == p) / n,
        macro_f1=sum(f for _, _, f, _ in per.values()) / (len(per) or 1),
        more_news=sum(1 for _, p in pairs if p == MORE_NEWS) / n,
        per_topic=per,
    )


def average(scores: list[TopicScores]) -> TopicScores:
    k = len(scores)
    per = {slug: tuple(sum(s.per_topic[slug][i] for s in scores) / k for i in range(3))
           + (scores[0].per_topic[slug][3],) for slug in scores[0].per_topic}
    return TopicScores(sum(s.accuracy for s in scores) / k, sum(s.macro_f1 for s in scores) / k,
                       sum(s.more_news for s in scores) / k, per)  # type: ignore[arg-type]


def split_corrections(rows: list[Labelled], per_topic: int, seed: int) -> tuple[list[Labelled], list[Labelled]]:
    """K rows per topic drawn with `seed` act as an editor's corrections; the rest are scored."""
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_label[row.label].append(i)
    chosen: set[int] = set()
    for indexes in by_label.values():
        chosen.update(rng.sample(indexes, min(per_topic, len(indexes))))
    return [rows[i] for i in sorted(chosen)], [r for i, r in enumerate(rows) if i not in chosen]


def b_cubed(gold: Sequence[Hashable], predicted: Sequence[Hashable]) -> tuple[float, float, float]:
    """B-cubed precision, recall and F1 of a clustering against gold clusters (Bagga & Baldwin 1998)."""
    gold_of = list(gold)
    pred_of = list(predicted)
    both = Counter(zip(gold_of, pred_of, strict=True))
    gold_size = Counter(gold_of)
    pred_size = Counter(pred_of)
    n = len(gold_of)
    # Each item's precision is |its predicted cluster ∩ its gold cluster| / |its predicted cluster|.
    precision = sum(c * c / pred_size[p] for (g, p), c in both.items()) / n
    recall = sum(c * c / gold_size[g] for (g, p), c in both.items()) / n
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1



def evaluate_topics(topics_file: Path, data: Path, corrections: int = 0, seeds: int = 3) -> TopicScores:
    """Assign the labelled articles with the shipped code path and settings, and score them.

    With `corrections`, that many labelled articles per topic act as an editor's
    corrections (drawn with each seed) and only the rest are scored; the figures
    are averaged over the seeds.
    """
    from datetime import datetime, timezone

    from digest.collect.language import detect_language
    from digest.models import Article, DigestList
    from digest.topics.assign import assign_window
    from digest.topics.embedding import article_text, embed
    from digest.topics.files import read_topics

    topics, language = read_topics(topics_file)
    rows = label_to_slug(read_labelled(data, "label"), topics)
    digest_list = DigestList(slug="eval", name="eval", from_email="eval@example.com", topics=topics,
                             locale=language if language in ("en", "es", "fr", "de") else "en")
    now = datetime.now(timezone.utc)

    def as_article(row: Labelled) -> Article:
        # each article's language detected as collection detects it: each is stemmed in its own
        return Article(id=row.id, feed_id="eval", source="eval", title=row.title, url="", guid=row.id,
                       published=now, summary_text=row.text, language=detect_language(row.title, row.text))

    rows = _unique_ids(rows)
    vectors = dict(zip((r.id for r in rows), embed([article_text(r.title, r.text) for r in rows]), strict=True))
    runs = []
    for seed in range(seeds if corrections else 1):
        given, scored = split_corrections(rows, corrections, seed) if corrections else ([], rows)
        fixed = {r.id: {"topic": r.label, "title": r.title, "text": r.text} for r in given}
        articles = [as_article(r) for r in scored]
        filings = assign_window(digest_list, articles, articles, fixed, vectors)
        runs.append(score_topics([r.label for r in scored], [filings[r.id].primary for r in scored],
                                 [t.slug for t in topics]))
    return average(runs)


def _unique_ids(rows: list[Labelled]) -> list[Labelled]:
    """Rows keyed by id: a repeated id gets its row number appended."""
    seen: set[str] = set()
    out = []
    for n, row in enumerate(rows):
        key = row.id if row.id not in seen else f"{row.id}#{n}"
        seen.add(key)
        out.append(Labelled(key, row.title, row.text, row.label))
    return out
