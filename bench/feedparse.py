"""What a hostile feed costs to parse: feedparser's CPU on a 5 MB malformed feed, before and after
the markup budget (digest.collect.markup), and the worst feeds the budget still lets through.

    python bench/feedparse.py [--corpus] [--skip-old]
    (or: python3 dev.py bench feedparse ...)

1. The worst the budget lets through: for each hostile shape, the largest document that
   `readable_part` accepts (found by bisection), parsed by `parse_feed`; its CPU seconds.
   No accepted feed should cost more than a few seconds.
2. --corpus: every file of ../shared/feeds parsed by the old path and the new one, and their
   entries (count, titles, links) compared; every difference is listed.
3. The hostile 5 MB feed: items of well-formed XHTML (<p> and 40 <br/> each), the last one
   holding an entity HTML defines and XML does not (&nbsp;). feedparser's strict parser reads the whole feed, fails
   at the very end, and its loose parser reads it all again. `parse_feed` is timed as it is
   (the budget refuses the feed) and by the old path (the same function with
   `readable_part` made a no-op: what it did before), in this run; --skip-old leaves out the
   old path's half minute.

CPU seconds are this process's (time.process_time). The last line is

    feedparse: hostile 5.0 MB feed, old X s CPU, now Y s (ratio R); worst accepted W s (shape)
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from digest.collect import markup  # noqa: E402
from digest.collect import parse as parse_module  # noqa: E402
from digest.collect.parse import ParsedFeed, parse_feed  # noqa: E402
from digest.errors import FeedError  # noqa: E402

SHARED = ROOT.parent / "shared" / "feeds"
URL = "https://hostile.example/feed.xml"
MB = 1024 * 1024
HEAD = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Hostile</title>'
        "<link>https://hostile.example/</link><description>x</description>")
TAIL = "</channel></rss>"

# Each shape: a document of n repetitions. The malformed ones put their error at the very end
# (the strict parser reads everything first) or at the start (the loose parser reads it alone).
SHAPES: dict[str, Callable[[int], str]] = {
    "empty items": lambda n: HEAD + "<item/>" * n + TAIL,
    "html titles": lambda n: HEAD + '<item><title type="html">&lt;b&gt;x&lt;/b&gt;</title></item>' * n + TAIL,
    "dated items": lambda n: HEAD + "<item><pubDate>Sun, 22 Nov 2026 10:00:00 GMT</pubDate></item>" * n + TAIL,
    "empty elements": lambda n: HEAD + "<x/>" * n + TAIL,
    "64 attributes each": lambda n: HEAD + ("<x" + "".join(f' a{i}=""' for i in range(64)) + "/>") * n + TAIL,
    "unclosed <p>, error at the end": lambda n: HEAD + "<p>" * n,
    "items, &nbsp; at the end": lambda n: HEAD + "<item/>" * n + "&nbsp;" + TAIL,
    "'<a<a<a'": lambda n: HEAD + "<a" * n,
    "'&&&'": lambda n: HEAD + "&&" * n,
    "attributes without values": lambda n: HEAD + "<x" + " a" * n + ">" + TAIL,
    "end tags": lambda n: HEAD + "&</a" * n,
    # Read up to its last whole item within budget, however long (up to the fetch cap).
    "&nbsp; first, then dated items (cut)": lambda n: HEAD + "&nbsp;"
    + "<item><pubDate>Sun, 22 Nov 2026 10:00:00 GMT</pubDate></item>" * n + TAIL,
}
LARGEST = 5 * MB  # FETCH_MAX_BYTES: no feed is longer


def accepted(text: str) -> bool:
    """Does the budget let this document through to feedparser?"""
    headers = {"content-location": URL, "content-type": parse_module._AS_DECODED}
    try:
        markup.readable_part(parse_module._xml_start(text).encode("utf-8"), headers, URL)
    except FeedError:
        return False
    return True


def largest_accepted(make: Callable[[int], str]) -> int:
    """The most repetitions of a shape the budget lets through (bisection)."""
    low, high = 0, 1
    while accepted(make(high)):
        if len(make(high)) > LARGEST:  # accepted at any length: the longest a fetch returns
            return high
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if accepted(make(mid)) else (low, mid)
    return low


def budget(old: bool) -> Any:
    """`old`: parse_feed as before the budget (every byte to feedparser); else as it is."""
    if old:
        return mock.patch.object(parse_module, "readable_part", lambda data, *_: (data, ""))
    return mock.patch.object(parse_module, "readable_part", parse_module.readable_part)


def cpu(body: bytes, *, old: bool = False) -> tuple[float, str]:
    """CPU seconds of parse_feed on `body` (`old`: without the budget), and what came of it."""
    with budget(old):
        started = time.process_time()
        try:
            parsed = parse_feed(body, URL)
            outcome = f"{len(parsed.entries)} entries"
        except FeedError as exc:
            outcome = f"refused: {str(exc).removeprefix(URL + ': ')[:100]}"
        return time.process_time() - started, outcome


def hostile_feed(size: int = 5 * MB) -> bytes:
    """Items of well-formed XHTML (40 line breaks each), the last one holding &nbsp;: malformed only at its end."""
    item = ('<item><title>Story {n}</title><link>https://hostile.example/{n}</link>'
            "<description><p>" + "<br/>" * 40 + "</p></description></item>")
    parts, length, n = [HEAD], len(HEAD), 0
    while length < size - 200:
        piece = item.format(n=n)
        parts.append(piece)
        length += len(piece)
        n += 1
    parts.append("<item><title>Last&nbsp;one</title></item>" + TAIL)
    return "".join(parts).encode("utf-8")


def entries_of(parsed: ParsedFeed | None) -> tuple[object, ...]:
    if parsed is None:
        return ("refused",)
    return (len(parsed.entries), [e.title for e in parsed.entries], [e.link for e in parsed.entries])


def compare_corpus() -> int:
    """Old and new path over every file of ../shared/feeds; the number of files whose entries differ."""
    rows = list(csv.DictReader((SHARED / "manifest.csv").open(encoding="utf-8")))
    differ = 0
    for row in rows:
        content = (SHARED / row["file"]).read_bytes()
        results = []
        for old in (True, False):
            with budget(old):
                try:
                    results.append(entries_of(parse_feed(content, row["file"])))
                except FeedError as exc:
                    results.append(("error", str(exc)))
        if results[0] != results[1]:
            differ += 1
            print(f"  DIFFERS {row['file']}: old {str(results[0])[:120]} / new {str(results[1])[:120]}")
    print(f"corpus: {len(rows)} files, {differ} with different entries (count, titles, links)")
    return differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", action="store_true", help="compare old and new entries over ../shared/feeds")
    parser.add_argument("--skip-old", action="store_true", help="do not time the old path on the hostile feed")
    args = parser.parse_args()
    print(f"budget: {markup.MAX_MARKUP:,} elements and attributes, at most {markup.MAX_ATTRIBUTES} attributes "
          f"on one element, a malformed document's bytes at 1 per {markup.LOOSE_BYTES_PER_UNIT}")
    worst, worst_shape = 0.0, ""
    for name, make in SHAPES.items():
        n = largest_accepted(make)
        body = make(n).encode("utf-8")
        seconds, outcome = cpu(body)
        print(f"  largest accepted, {name}: {len(body) / 1024:,.0f} KB, {seconds:.2f} s CPU ({outcome})")
        if seconds > worst:
            worst, worst_shape = seconds, name
    if args.corpus and compare_corpus():
        print("corpus: entries differ (listed above)")
    body = hostile_feed()
    now, outcome = cpu(body)
    print(f"hostile feed, now: {now:.3f} s CPU ({outcome})")
    if args.skip_old:
        print(f"feedparse: hostile {len(body) / MB:.1f} MB feed, old (skipped), now {now:.2f} s; "
              f"worst accepted {worst:.2f} s ({worst_shape})")
        return
    old, old_outcome = cpu(body, old=True)
    print(f"hostile feed, old path: {old:.2f} s CPU ({old_outcome})")
    print(f"feedparse: hostile {len(body) / MB:.1f} MB feed, old {old:.2f} s CPU, now {now:.2f} s "
          f"(ratio {old / max(now, 1e-9):.0f}); worst accepted {worst:.2f} s ({worst_shape})")


if __name__ == "__main__":
    main()
