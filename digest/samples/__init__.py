"""The sample feeds and topic files that ship with digest, for the demo and for a first try.

A feed's URL may be `sample:<file>` (`digest feeds add wire sample:planet-wire.xml`):
the collector then reads the bundled file instead of the network, so the samples
work in any installation, with any worker, without a server (the demo serves the
same files over loopback HTTP to show the real fetch path). Only the files in
feeds/ are samples: any other name is refused.

Sample feeds carry {{ago:20h}} (RFC 822) and {{iso:2d}} (RFC 3339) where dates go,
filled in when they are read, so their articles are always fresh.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

SAMPLES = Path(__file__).parent
SCHEME = "sample:"
FEED_TYPES = {".xml": "application/rss+xml", ".atom": "application/atom+xml", ".json": "application/feed+json"}
_DATE = re.compile(r"\{\{(ago|iso):(\d+)([hd])\}\}")


def sample_feeds() -> list[str]:
    """The bundled feed files' names."""
    return sorted(p.name for p in (SAMPLES / "feeds").iterdir() if p.suffix in FEED_TYPES)


def sample_name(url: str) -> str | None:
    """The sample file a `sample:` URL names, None for another URL; ValueError for an unknown sample."""
    if not url.startswith(SCHEME):
        return None
    name = url[len(SCHEME):]
    if name not in sample_feeds():  # a fixed list: no path reaches outside feeds/
        raise ValueError(f"{url!r} names no bundled sample (there are: {', '.join(sample_feeds())})")
    return name


def sample_feed(name: str, now: datetime) -> tuple[bytes, str]:
    """A sample feed's bytes, dated from `now`, and its content type."""
    if name not in sample_feeds():
        raise ValueError(f"{name!r} is not a bundled sample")
    path = SAMPLES / "feeds" / name
    return fill_dates(path.read_text(encoding="utf-8"), now).encode("utf-8"), FEED_TYPES[path.suffix]


def fill_dates(text: str, now: datetime) -> str:
    def when(m: re.Match[str]) -> str:
        moment = now - timedelta(**{"hours" if m.group(3) == "h" else "days": int(m.group(2))})
        return format_datetime(moment) if m.group(1) == "ago" else moment.isoformat(timespec="seconds")
    return _DATE.sub(when, text)
