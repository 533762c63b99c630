"""Subscribers in and out of CSV files: every good row kept, every bad one named.

The file needs a header row naming its columns, with at least `email` (and
optionally `name` and `topics`, topics separated by ";"); comma or semicolon as
the delimiter, detected from the header. It is read line by line as bytes, so a
line that is not UTF-8, has more or fewer fields than the header, an invalid
address, an unknown topic or a name that is too long is reported with its line
number and reason, while every good row before and after it is imported. An
address twice in the file is imported once. Importing never resubscribes anyone
who left, and never activates a suppressed address (store/subscribers.py).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from digest.errors import DigestError, InvalidInput
from digest.models import Subscriber
from digest.store import Store, normalize_email


@dataclass
class ImportReport:
    imported: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)


def _lines(path: Path, problems: list[tuple[int, str]]) -> Iterator[str]:
    """The file's lines as text; a line that is not UTF-8 is reported and read as empty."""
    with path.open("rb") as f:
        for number, raw in enumerate(f, 1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                problems.append((number, f"not UTF-8 text (byte {raw[exc.start]:#04x} at column {exc.start + 1})"))
                yield "\n"


def _split_topics(value: str) -> list[str]:
    return [t.strip() for t in value.replace(",", ";").split(";") if t.strip()]


def import_csv(store: Store, list_slug: str, path: Path) -> ImportReport:
    store.get_list(list_slug)
    report = ImportReport()
    csv.field_size_limit(1_000_000)
    lines = _lines(path, report.problems)
    try:
        header = next(lines)
    except StopIteration:
        raise InvalidInput(f"{path}: the file is empty") from None
    delimiter = ";" if header.count(";") > header.count(",") else ","
    columns = [c.strip().lower() for c in next(csv.reader([header], delimiter=delimiter))]
    if "email" not in columns:
        raise InvalidInput(f"{path}: the first row must name the columns, with at least 'email' (found: "
                           f"{', '.join(columns) or 'nothing'})")
    reader = csv.reader(lines, delimiter=delimiter)
    seen: set[str] = set()
    line = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            report.problems.append((reader.line_num + 1, f"not valid CSV: {exc}"))
            continue
        line = reader.line_num + 1  # the header was line 1
        if not fields or not any(f.strip() for f in fields):
            continue
        if len(fields) != len(columns):
            more = "more" if len(fields) > len(columns) else "fewer"
            report.problems.append((line, f"{len(fields)} fields, {more} than the header's {len(columns)}"))
            continue
        row = {c: v.strip() for c, v in zip(columns, fields, strict=True)}
        try:
            email = normalize_email(row["email"])
            if email in seen:
                report.problems.append((line, f"{email} is already in the file (imported once)"))
                continue
            seen.add(email)
            store.add_subscriber(list_slug, Subscriber(
                email=email, name=row.get("name", ""), topics=_split_topics(row.get("topics", "")) or None))
            report.imported += 1
        except DigestError as exc:
            report.problems.append((line, str(exc)))
        except ValidationError as exc:
            report.problems.append((line, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                                    for e in exc.errors())))
    report.problems.sort()
    return report


# A cell starting with one of these is a formula to a spreadsheet (CSV injection):
# exported with a leading apostrophe, it is shown as the text it is.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
EXPORT_COLUMNS = ["email", "name", "status", "topics", "created"]


def spreadsheet_safe(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def export_csv(store: Store, list_slug: str, out: TextIO) -> int:
    """Every subscriber of a list, any status, as CSV (the import's columns and more); returns the count."""
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for sub in store.subscribers(list_slug):
        writer.writerow([spreadsheet_safe(v) for v in (
            sub.email, sub.name, sub.status, ";".join(sub.topics or ()), sub.created_at.isoformat(timespec="seconds"))])
        count += 1
    return count
