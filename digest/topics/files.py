"""Topic files: a list's topics as editors keep them under version control.

TOML, one `[[topic]]` table per topic, in the order the email shows them:

    # Topics of "The Weekly Planet"
    language = "en"            # optional: the language the topics are written in

    [[topic]]
    slug = "space"             # id: lower-case letters, digits, dashes
    name = "Space"             # the section heading in the email
    description = "Rockets, probes, astronomy and the people who work in orbit."
    keywords = ["nasa", "rocket", "orbit"]   # optional; word forms match (stems, accents, plurals)

Reading names the file, the topic and the field that is wrong; writing makes a
file that reads back to the same topics.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from digest.errors import InvalidInput
from digest.models import Topic

FIELDS = ("slug", "name", "description", "keywords")


def parse_topics(text: str, source: str = "topic file") -> tuple[list[Topic], str | None]:
    """The topics a TOML text defines, in order, and its declared language (or None)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{source}: not valid TOML: {exc}") from None
    unknown = set(doc) - {"topic", "language"}
    if unknown:
        raise InvalidInput(f"{source}: unknown setting(s) {', '.join(sorted(unknown))} (expected [[topic]] tables)")
    language = doc.get("language")
    if language is not None and not isinstance(language, str):
        raise InvalidInput(f"{source}: language must be a string such as \"en\"")
    rows = doc.get("topic", [])
    if not isinstance(rows, list) or not rows:
        raise InvalidInput(f"{source}: no [[topic]] tables")
    topics: list[Topic] = []
    for n, row in enumerate(rows, 1):
        where = f"{source}: topic {n}" + (f" ({row.get('slug')!r})" if isinstance(row.get("slug"), str) else "")
        extra = set(row) - set(FIELDS)
        if extra:
            raise InvalidInput(f"{where}: unknown field(s) {', '.join(sorted(extra))}")
        try:
            topics.append(Topic(**row))
        except ValidationError as exc:
            msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise InvalidInput(f"{where}: {msg}") from None
    slugs = [t.slug for t in topics]
    twice = sorted({s for s in slugs if slugs.count(s) > 1})
    if twice:
        raise InvalidInput(f"{source}: topic slug(s) defined twice: {', '.join(twice)}")
    return topics, language


def read_topics(path: Path) -> tuple[list[Topic], str | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read it: {exc}") from None
    return parse_topics(text, str(path))


def dump_topics(topics: Iterable[Topic], language: str | None = None, title: str = "") -> str:
    """TOML text for these topics; parse_topics reads it back to the same topics."""
    lines = [f"# Topics of {title}" if title else "# Topics", ""]
    if language:
        lines += [f"language = {_string(language)}", ""]
    for topic in topics:
        lines += [
            "[[topic]]",
            f"slug = {_string(topic.slug)}",
            f"name = {_string(topic.name)}",
            f"description = {_string(topic.description)}",
            f"keywords = [{', '.join(_string(k) for k in topic.keywords)}]",
            "",
        ]
    return "\n".join(lines)


def _string(value: str) -> str:
    # A JSON string is a TOML basic string: the same quotes and escapes.
    return json.dumps(value, ensure_ascii=False)
