"""Subscribers in and out of CSV files: every good row kept, every bad one named.

The file needs a header row naming its columns, with at least `email` (and
optionally `name` and `topics`, topics separated by ";" or ","); comma or
semicolon as the delimiter, detected from the header. One row per line: a
quoted field cannot span lines (no address, name or topic holds a line break),
so a stray quote costs its own line and never swallows the rows after it.

The file is streamed: read as bytes a line at a time, validated a chunk at a
time, each chunk written by one script (store/imports.py says what each row does
to the list, and why the duplicates' memory lives in Redis). A line that is not
UTF-8, has more or fewer fields than the header, an invalid address, an unknown
topic, a bad name or an address already seen in the file is reported with its
line number and reason (through `on_problem`, in line order, as the import goes),
while every good row before and after it is imported. The process holds one
chunk at a time, so its memory does not grow with the file.

New rows join as the list's opt-in says (people.joining_terms): active, with
single opt-in recorded as the consent, or pending until they confirm; `confirm`
is then called with the new pending addresses, 1,000 at a time, after the import.
An import that stops part-way keeps the chunks it wrote (running it again writes
nobody twice); the pending people of a stopped run get no confirmation from it.
Importing never resubscribes anyone who left, never activates a suppressed (or
forgotten) address, and never changes a subscriber's name or topics unless `update`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, TextIO

from pydantic import ValidationError

from digest.addresses import plain_address, validated_address
from digest.errors import InvalidInput
from digest.models import NAME_MAX_CHARS, Subscriber
from digest.people import joining_terms, utcnow
from digest.store import Store
from digest.store.imports import ImportRow, ImportRun

CHUNK_ROWS = 2000  # rows per script: ~15 ms of Redis time, so other clients wait little
MAX_LINE_BYTES = 64 * 1024  # no good row is near this; a longer line is refused, not read into memory
MAX_ADDRESS_CHARS = 320
_TOPIC_CACHE = 4096  # distinct topic cells remembered (a hostile file cannot grow it past this)


@dataclass
class ImportSummary:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: int = 0  # bad rows, each reported with its line
    suppressed: int = 0  # left the list before, or on the suppression list: not (re)subscribed
    pending: int = 0  # of the new: waiting to confirm (double opt-in)
    confirmations: int = 0  # confirmation emails sent to them


Problem = Callable[[int, str], None]  # line number, reason


def import_csv(
    store: Store, list_slug: str, path: Path, *, update: bool = False, opt_in: str | None = None,
    on_problem: Problem | None = None, on_progress: Callable[[int], None] | None = None,
    confirm: Callable[[list[str]], int] | None = None, now: datetime | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> ImportSummary:
    """Import a CSV file into a list (module docstring); `on_progress` gets the bytes read so far."""
    digest_list = store.get_list(list_slug)
    now = now or utcnow()
    status, evidence = joining_terms(digest_list, "import", now, opt_in)
    summary = ImportSummary()
    with path.open("rb") as f:
        columns, delimiter = _header(f, path)
        run = ImportRun(store, digest_list, new_status=status, new_profile=json.dumps(evidence, separators=(",", ":")),
                        created=int(now.timestamp()), update=update)
        try:
            rows = _Rows(columns, delimiter, frozenset(store.list_topics(digest_list)), list_slug)
            writer = _Writer(run, summary, on_problem)
            chunk: list[ImportRow] = []
            problems: list[tuple[int, str]] = []
            number = 1
            readline = f.readline
            while raw := readline(MAX_LINE_BYTES):
                number += 1
                if len(raw) == MAX_LINE_BYTES and not raw.endswith(b"\n"):
                    while (rest := readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                        pass
                    problems.append((number, f"longer than {MAX_LINE_BYTES // 1024} KB"))
                elif (row := rows.parse(number, raw, problems)) is not None:
                    chunk.append(row)
                if len(chunk) + len(problems) >= chunk_rows:  # a file of bad lines is held no longer
                    writer.submit(chunk, problems)
                    chunk, problems = [], []
                    if on_progress:
                        on_progress(f.tell())
            writer.submit(chunk, problems)
            writer.finish()
            if on_progress:
                on_progress(f.tell())
            if summary.pending and confirm is not None:
                for emails in run.pending():
                    summary.confirmations += confirm(emails)
        finally:
            run.close()
    return summary


def _header(f: BinaryIO, path: Path) -> tuple[list[str], str]:
    raw = f.readline(MAX_LINE_BYTES).removeprefix(b"\xef\xbb\xbf")
    if not raw.strip():
        raise InvalidInput(f"{path}: the first line must name the columns, with at least 'email'")
    if b"\r" in raw.rstrip(b"\r\n"):
        raise InvalidInput(f"{path}: its lines end with a lone carriage return (an old Mac format); "
                           "save it again as CSV (UTF-8)")
    try:
        header = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: line 1 (the header) is not UTF-8 text") from None
    delimiter = ";" if header.count(";") > header.count(",") else ","
    columns = [c.strip().lower() for c in next(csv.reader([header.rstrip("\r\n")], delimiter=delimiter))]
    if "email" not in columns:
        raise InvalidInput(f"{path}: the first line must name the columns, with at least 'email' (found: "
                           f"{', '.join(columns) or 'nothing'})")
    twice = sorted({c for c in columns if c and columns.count(c) > 1})
    if twice:
        raise InvalidInput(f"{path}: column(s) named twice in the header: {', '.join(twice)}")
    return columns, delimiter


class _Rows:
    """Turns one line into a row to write, or into a problem (line, reason)."""

    def __init__(self, columns: list[str], delimiter: str, topics: frozenset[str], list_slug: str) -> None:
        self.width = len(columns)
        self.delimiter = delimiter
        self.email_at = columns.index("email")
        self.name_at = columns.index("name") if "name" in columns else None
        self.topics_at = columns.index("topics") if "topics" in columns else None
        self.offered = topics
        self.list_slug = list_slug
        self.choices: dict[str, tuple[str, ...] | str] = {}  # topic cell -> slugs, or why not

    def parse(self, number: int, raw: bytes, problems: list[tuple[int, str]]) -> ImportRow | None:
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            problems.append((number, f"not UTF-8 text (byte {raw[exc.start]:#04x} at column {exc.start + 1})"))
            return None
        if '"' in text:
            try:
                fields = next(csv.reader([text], delimiter=self.delimiter, strict=True))
            except csv.Error as exc:
                problems.append((number, f"not valid CSV: {exc} (a quoted field must close on its own line)"))
                return None
        else:
            fields = text.split(self.delimiter)
        if len(fields) != self.width:
            if not text.strip(f"{self.delimiter} \t"):
                return None  # a blank line
            more = "more" if len(fields) > self.width else "fewer"
            problems.append((number, f"{len(fields)} fields, {more} than the header's {self.width}"))
            return None
        cell = fields[self.email_at].strip()
        if not cell:
            if any(f.strip() for f in fields):
                problems.append((number, "no email address"))
            return None
        email = plain_address(cell)
        if email is None:
            if len(cell) > MAX_ADDRESS_CHARS:
                problems.append((number, f"invalid email address: longer than {MAX_ADDRESS_CHARS} characters"))
                return None
            try:
                email = validated_address(cell)
            except InvalidInput as exc:
                problems.append((number, str(exc)))
                return None
        name = fields[self.name_at].strip() if self.name_at is not None else ""
        if not (len(name) <= NAME_MAX_CHARS and name.isprintable() and "  " not in name):
            try:
                name = Subscriber(email=email, name=name).name  # the model's own cleaning, for the odd ones
            except ValidationError as exc:
                problems.append((number, "name: " + exc.errors()[0]["msg"].removeprefix("Value error, ")))
                return None
        topics = self._topics(fields[self.topics_at] if self.topics_at is not None else "")
        if isinstance(topics, str):
            problems.append((number, topics))
            return None
        return number, email, topics, name

    def _topics(self, cell: str) -> tuple[str, ...] | str:
        found = self.choices.get(cell)
        if found is None:
            slugs = [t.strip() for t in cell.replace(",", ";").split(";") if t.strip()]
            unknown = [s for s in slugs if s not in self.offered]
            if unknown:
                found = (f"unknown topic of list {self.list_slug!r}: {', '.join(map(repr, unknown[:5]))} "
                         f"(its topics: {', '.join(sorted(self.offered))})")
            else:
                found = tuple(dict.fromkeys(slugs))
            if len(self.choices) >= _TOPIC_CACHE:
                self.choices.clear()
            self.choices[cell] = found
        return found


class _Writer:
    """Keeps one chunk in Redis's hands while the next is read; counts and reports in line order."""

    def __init__(self, run: ImportRun, summary: ImportSummary, on_problem: Problem | None) -> None:
        self.run = run
        self.summary = summary
        self.on_problem = on_problem
        self.waiting: tuple[list[ImportRow], list[tuple[int, str]]] | None = None

    def submit(self, chunk: list[ImportRow], problems: list[tuple[int, str]]) -> None:
        if chunk:
            self.run.send(chunk)
        self.finish()
        if chunk:
            self.waiting = (chunk, problems)
        else:
            self._report(problems)

    def finish(self) -> None:
        """Take in the answer for the chunk in flight, if any."""
        if self.waiting is None:
            return
        (chunk, problems), self.waiting = self.waiting, None
        summary = self.summary
        for (line, email, _, _), code in zip(chunk, self.run.receive(), strict=True):
            kind = code[0]
            if kind == "n":
                summary.new += 1
            elif kind == "=":
                summary.unchanged += 1
            elif kind == "u":
                summary.updated += 1
            elif kind == "s":
                summary.suppressed += 1
            elif kind == "d":
                problems.append((line, f"{email} is already in the file (line {code[1:]}); imported once"))
            else:
                problems.append((line, f"{email}: its stored record is unreadable; left as it is"))
        if self.run.new_status == "pending":
            summary.pending = summary.new
        self._report(problems)

    def _report(self, problems: list[tuple[int, str]]) -> None:
        self.summary.refused += len(problems)
        if self.on_problem is not None:
            for line, reason in sorted(problems):
                self.on_problem(line, reason)


# A cell starting with one of these is a formula to a spreadsheet (CSV injection):
# exported with a leading apostrophe, it is shown as the text it is.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
EXPORT_COLUMNS = ["email", "name", "status", "topics", "created"]


def spreadsheet_safe(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def export_row(sub: Subscriber) -> list[str]:
    """One subscriber as an export row (EXPORT_COLUMNS), every cell safe to open in a spreadsheet."""
    return [spreadsheet_safe(v) for v in (
        sub.email, sub.name, sub.status, ";".join(sub.topics or ()), sub.created_at.isoformat(timespec="seconds"))]


def export_csv(store: Store, list_slug: str, out: TextIO) -> int:
    """Every subscriber of a list, any status, as CSV (the import's columns and more); returns the count."""
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for sub in store.subscribers(list_slug):
        writer.writerow(export_row(sub))
        count += 1
    return count
