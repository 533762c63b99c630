"""What reading a feed's XML will cost feedparser, counted before it runs, and the budget it may not pass.

feedparser's time goes to Python code it runs for each tag (bench/feedparse.py):

- Its strict parser (expat, through xml.sax) spends 10-25 µs on each element, whatever the
  element: every start tag resolves xml:base with urljoin and tracks xml:lang and namespaces.
  A well-formed 5 MB feed of empty elements took 16 s.
- A document that is not well-formed is read twice: by the strict parser up to its first
  error, then from the start by the loose parser (sgmllib: regular expressions over the text),
  as slow per tag and up to 7 µs a byte on text that is all markup ('<a<a<a…', '&&&…',
  attributes without values). 5 MB of '<p>' (the error at the very end) took 36 s.
- The strict parser's attributes cost the square of their number on one element: feedparser
  asks xml.sax for each one's value by name, a linear search. 20,000 attributes on one
  element (190 KB) took 2.5 s; 5 MB of them would take some twenty minutes (by the square).

So before feedparser runs, expat (in C) reads the very bytes feedparser's strict parser will
be given (after feedparser's own re-encoding and DOCTYPE rewriting), with its namespaces, and
counts elements and attributes; it stops as soon as the budget is spent:

- MAX_MARKUP elements and attributes in all. The densest real feed of ../shared/feeds holds
  one per 40 bytes: 5 MB of it (FETCH_MAX_BYTES) would hold about 130,000.
- MAX_ATTRIBUTES attributes on one element (real feeds put a handful on any element).
- A document the strict parser will not read to its end is read by the loose parser too: its
  bytes count as well, one unit per LOOSE_BYTES_PER_UNIT, on top of what expat read before the
  error. A malformed feed of a few hundred kilobytes still fits whole; a longer one is cut after
  the last item or entry that fits (`readable_part`), so its newest entries are still read, as
  feeds list them first, and the cut is noted as the feed's problem.

A feed over the budget otherwise is refused with a FeedError saying what was too much, before
feedparser reads any of it (expat's count costs a few hundredths of a second). The costliest
documents the budget lets through took 2 to 3.5 s of CPU each on the bench's machine,
well-formed or not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from xml.parsers import expat

from feedparser.encodings import convert_to_utf8
from feedparser.sanitizer import replace_doctype

from digest.errors import FeedError

MAX_MARKUP = 150_000
MAX_ATTRIBUTES = 64
# The loose parser's worst case, a tag every two bytes, costs about a quarter of an element a byte.
LOOSE_BYTES_PER_UNIT = 4
_NAME_CHARS = 60  # of an element's name quoted in an error


@dataclass(frozen=True)
class Markup:
    """What expat read of the strict parser's input: `units` (elements and attributes) up to
    `error` (why the strict parser stops early; "" when it reads the document to its end), or
    up to `over`, what spent the budget ("" when nothing did)."""

    units: int
    error: str = ""
    over: str = ""


class _Spent(Exception):
    """The budget is spent: expat stops reading."""


def count_markup(data: bytes, headers: dict[str, str]) -> Markup:
    """Elements and attributes of `data` as feedparser's strict parser would read them, given
    the response `headers` feedparser is given; at most MAX_MARKUP + 1 of them are counted."""
    result: dict[str, Any] = {}
    data = convert_to_utf8(headers, data, result)
    if not result.get("encoding"):  # feedparser then goes straight to its loose parser
        return Markup(0, "no character encoding feedparser can read")
    _version, data, _entities = replace_doctype(data)
    # Set up as xml.sax's expat reader sets up the strict parser's (xml.sax.expatreader.reset),
    # with namespaces, so that both stop at the same error.
    parser = expat.ParserCreate(None, " ")
    parser.namespace_prefixes = True
    parser.ExternalEntityRefHandler = _skip_external_entity
    parser.SkippedEntityHandler = _skip
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_UNLESS_STANDALONE)
    parser.ordered_attributes = True  # a flat list: no dict built per element
    units = 0

    def start(name: str, attributes: list[str]) -> None:
        nonlocal units
        count = len(attributes) // 2
        if count > MAX_ATTRIBUTES:
            local = name.rpartition(" ")[2][:_NAME_CHARS]
            raise _Spent(f"an element <{local}> with {count:,} attributes (at most {MAX_ATTRIBUTES})")
        units += 1 + count
        if units > MAX_MARKUP:
            raise _Spent(f"more than {MAX_MARKUP:,} XML elements and attributes")

    parser.StartElementHandler = start
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        return Markup(units, f"not well-formed XML: {exc}")
    except _Spent as exc:
        return Markup(units, over=str(exc))
    return Markup(units)


def _skip_external_entity(*_: object) -> int:
    return 1  # not read, as feedparser's reader does with external entities turned off


def _skip(*_: object) -> None:
    pass


def readable_part(data: bytes, headers: dict[str, str], url: str) -> tuple[bytes, str]:
    """What of `data` feedparser may read within the budget (with these response `headers`), and
    a note when that is not all of it ("" when it is); FeedError when nothing of it may be read."""
    markup = count_markup(data, headers)
    if markup.over:
        raise FeedError(f"{url}: {markup.over}: too costly to read, not parsed")
    if not markup.error or _fits(markup, len(data)):
        return data, ""
    room = max(0, MAX_MARKUP - markup.units) * LOOSE_BYTES_PER_UNIT
    refused = (f"{url}: {markup.error}; a feed that is not well-formed is read leniently only up to "
               f"{room // 1024:,} KB, and this one is {_size(len(data))}")
    ends = [m.end() for m in _ITEM_END.finditer(data, 0, room)]
    part = data[:ends[-1]] if ends else b""
    cut = count_markup(part, headers) if part else None
    # Cut where strict reading now stops early too: what it reads of the part is counted anew.
    if cut is None or cut.over or (cut.error and not _fits(cut, len(part))):
        raise FeedError(f"{refused}, with no whole item or entry in that: too costly to read, not parsed")
    return part, f"{refused}: read up to its last whole item there ({_size(len(part))})"


def _fits(markup: Markup, size: int) -> bool:
    """Read by the strict parser up to its error, then whole by the loose parser: within budget?"""
    return markup.units + size // LOOSE_BYTES_PER_UNIT <= MAX_MARKUP


_ITEM_END = re.compile(rb"</(?:[a-z0-9_.-]{1,40}:)?(?:item|entry)\s*>", re.IGNORECASE)


def _size(count: int) -> str:
    return f"{count / 1024 / 1024:.1f} MB" if count >= 1024 * 1024 else f"{count // 1024:,} KB"
