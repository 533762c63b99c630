"""How fast a list's articles are grouped: embedding, topic assignment (self-trained) and stories.

    .venv/bin/python bench/topics.py [--articles 5000] [--set ag|masakha]

Takes N articles from a labelled set in ../shared/eval/topics/ (AG News
snippets, or MasakhaNEWS full articles, drawn again when N is larger than the
set) as one list's window, and runs exactly what building an issue runs: embed
every article, assign topics with self-training on the window, cluster stories
within each section. Prints wall and CPU time of each step, and as its last line

    grouping: N articles, R articles/s (C s CPU), baseline B articles/s

where the baseline is the same run's bare embedding of the same articles (the
part no grouping method can skip), so the ratio shows what grouping adds.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from digest.topics import classifier  # noqa: E402
from digest.topics.embedding import article_text, embed  # noqa: E402
from digest.topics.evaluate import label_to_slug, read_labelled  # noqa: E402
from digest.topics.files import read_topics  # noqa: E402
from digest.topics.stories import Doc, cluster  # noqa: E402

SETS = {
    "ag": ("ag_news_test.csv", "ag_news.toml"),
    "masakha": ("masakhanews_eng_test.csv", "masakhanews_eng.toml"),
}


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--set", choices=sorted(SETS), default="ag")
    args = parser.parse_args()
    data, topic_file = SETS[args.set]
    shared = ROOT.parent / "shared" / "eval" / "topics" / data
    if not shared.exists():
        print(f"{shared} is missing: this benchmark needs ../shared beside the checkout", file=sys.stderr)
        return 2
    topics, language = read_topics(ROOT / "bench" / "topics" / topic_file)
    rows = label_to_slug(read_labelled(shared, "label"), topics)
    rng = random.Random(7)
    sample = [rows[rng.randrange(len(rows))] for _ in range(args.articles)] if args.articles > len(rows) \
        else rng.sample(rows, args.articles)
    texts = [article_text(r.title, r.text) for r in sample]
    embed(["warm up"])  # load the model outside the clock

    steps = {}
    t, c = time.perf_counter(), cpu()
    vectors = embed(texts)
    steps["embed"] = (time.perf_counter() - t, cpu() - c)
    t, c = time.perf_counter(), cpu()
    found = classifier.assign(topics, vectors, texts, language)
    steps["assign"] = (time.perf_counter() - t, cpu() - c)
    t, c = time.perf_counter(), cpu()
    sections = [a.topic for a in found]
    cluster([Doc(r.title, r.text) for r in sample], blocks=sections)
    steps["stories"] = (time.perf_counter() - t, cpu() - c)

    for name, (wall, used) in steps.items():
        print(f"{name:<8} {wall:7.1f} s wall {used:7.1f} s CPU")
    wall = sum(w for w, _ in steps.values())
    used = sum(u for _, u in steps.values())
    baseline = args.articles / steps["embed"][0]
    accuracy = sum(1 for r, a in zip(sample, found, strict=True)
                   if a.topic is not None and topics[a.topic].slug == r.label) / len(sample)
    print(f"set {args.set}, accuracy on the sample {accuracy:.3f}, ratio {baseline / (args.articles / wall):.2f}")
    print(f"grouping: {args.articles} articles, {args.articles / wall:.0f} articles/s ({used:.0f} s CPU), "
          f"baseline {baseline:.0f} articles/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
