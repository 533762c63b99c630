"""Feed bytes to text: which character encoding an XML feed is in, decided once, before parsing.

The rules, in order (RFC 7303 §3, the XML specification's Appendix F, and what
browsers do with mislabelled pages):

1. A byte order mark decides; nothing else is looked at.
2. Bytes that are valid UTF-8 and not plain ASCII are UTF-8, whatever a header or
   the XML declaration says: a Latin-1 header on a UTF-8 feed is the commonest
   mislabel on the web, and text in a legacy encoding is next to never valid UTF-8
   by accident (Miniflux does the same).
3. The charset of the HTTP Content-Type, else the XML declaration's encoding.
   RFC 7303, which obsoletes RFC 3023, gives text/xml no US-ASCII default: without
   a charset it is read like application/xml. Labels are read as browsers read
   them: ISO-8859-1 and US-ASCII text with bytes 0x80-0x9F is windows-1252,
   GB2312 is GB18030, Shift_JIS is windows-31J, EUC-KR is windows-949. A label
   that names no text codec ("bogus"), a 16-bit label on 8-bit bytes, or a label
   the bytes do not decode in passes to rule 4, with a note.
4. Nothing usable declared: UTF-16/32 without a mark is recognised by how "<?xml"
   is spelled (Appendix F); mostly-UTF-8 bytes with a few stray bytes are UTF-8
   with those bytes read as windows-1252; anything else is what charset-normalizer
   detects, windows-1252 the last resort. No declaration at all and ASCII: UTF-8.

A guess or an overruled declaration is noted in `Decoded.problem`, never an
error: the text is kept.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from email.message import Message

import charset_normalizer

# Byte order marks, longest first (UTF-32 LE starts like UTF-16 LE).
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# "<?" in each wide layout, for a document without a byte order mark (XML Appendix F).
_WIDE_MARKERS = (
    (b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"), (b"<\x00?\x00", "utf-16-le"),
)
_XML_DECLARATION = re.compile(r"""\A\s*<\?xml\s[^>]{0,200}?\bencoding\s*=\s*["']([A-Za-z0-9._:+-]{1,40})["']""")
# What browsers decode a label as when the bytes say more than the label (WHATWG Encoding).
_SUPERSETS = {
    "ascii": "cp1252", "iso8859-1": "cp1252", "gb2312": "gb18030", "gbk": "gb18030",
    "shift_jis": "cp932", "euc_kr": "cp949", "big5": "big5hkscs", "tis-620": "cp874",
    "iso8859-11": "cp874", "iso8859-9": "cp1254",
}
# windows-1252 for the C1 range of Latin-1; its five undefined bytes stay as they are.
_C1_AS_CP1252 = {
    i: ch for i in range(0x80, 0xA0) if (ch := bytes([i]).decode("cp1252", "ignore"))
}
# Text codecs no web document is in; UTF-7 smuggles markup past filters (WHATWG drops it).
_NOT_FOR_DOCUMENTS = ("idna", "punycode", "utf-7")
_C1 = re.compile("[\x80-\x9f]")
_ESCAPED = re.compile("[\udc80-\udcff]")  # bytes surrogateescape could not decode
DETECT_BYTES = 64 * 1024  # charset-normalizer reads this much of a document
CHAOS_TIE = 0.005  # guesses this close to the cleanest count as equally clean
_WESTERN = ("cp1252", "iso8859-1", "iso8859-15")


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # the Python codec that made the text
    problem: str = ""  # why the encoding was guessed or a declaration overruled; "" when as declared


def windows_1252(data: bytes) -> str:
    """Bytes as browsers read windows-1252 (never fails: its undefined bytes read as Latin-1)."""
    return data.decode("latin-1").translate(_C1_AS_CP1252)


def decode_labelled(data: bytes, label: str | None) -> str:
    """Bytes in the charset a label names, read as browsers read that label (ISO-8859-1 as
    windows-1252, GB2312 as GB18030, ...); UTF-8 when the label names nothing; never fails."""
    name = codec_name(label) or "utf-8"
    superset = _SUPERSETS.get(name, name)
    return windows_1252(data) if superset == "cp1252" else data.decode(superset, "replace")


def codec_name(label: str | None) -> str | None:
    """Python's name for a charset label, or None when it names no text encoding."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip()).name
        b"a".decode(name)  # "base64", "rot13" and the like are not text encodings: LookupError
    except UnicodeDecodeError:  # a text encoding that wants more than one byte
        pass
    except (LookupError, ValueError):
        return None
    return None if name in _NOT_FOR_DOCUMENTS or name.endswith("escape") else name


def header_charset(content_type: str | None) -> str | None:
    """The charset label of a Content-Type header, as written (known or not)."""
    if not content_type or not content_type.isascii() or any(ch in content_type for ch in "\r\n\0"):
        return None
    message = Message()
    message["content-type"] = content_type
    charset = message.get_param("charset")
    return charset.strip() if isinstance(charset, str) and charset.strip() else None


def decode_xml(content: bytes, content_type: str | None = None) -> Decoded:
    """The text of an XML document, by the rules at the top of this module."""
    for bom, encoding in BOMS:
        if content.startswith(bom):
            return _as(content[len(bom):], encoding, "byte order mark")
    wide = next((enc for marker, enc in _WIDE_MARKERS if content.startswith(marker)), None)
    if wide:
        # The layout is the declaration: "u16", "utf-16" and "utf_16" all mean this one.
        return _as(content, wide, "layout of '<?xml'")
    labels = [("Content-Type charset", header_charset(content_type)),
              ("XML declaration", _declared(content))]
    notes: list[str] = []
    if not content.isascii():
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            wrong = [f"{label!r}" for _, label in labels if label and codec_name(label) != "utf-8"]
            note = f"declared {' and '.join(wrong)}, but the bytes are UTF-8" if wrong else ""
            return Decoded(text, "utf-8", note)
    for source, label in labels:
        if not label:
            continue
        name = codec_name(label)
        if name is None:
            notes.append(f"the {source} names no known encoding ({label!r})")
            continue
        if name.startswith(("utf-16", "utf-32")):
            notes.append(f"the {source} says {label}, but the bytes are 8-bit")
            continue
        decoded = _declared_as(content, name)
        if decoded is not None:
            return Decoded(decoded[0], decoded[1], "; ".join(notes))
        notes.append(f"the bytes are not {label} as the {source} says")
    if content.isascii():
        return Decoded(content.decode("ascii"), "utf-8", "; ".join(notes))
    return _undeclared(content, notes)


def _declared(content: bytes) -> str | None:
    """The encoding named in the XML declaration of an ASCII-compatible document."""
    match = _XML_DECLARATION.match(content[:300].decode("latin-1"))
    return match[1] if match else None


def _declared_as(content: bytes, name: str) -> tuple[str, str] | None:
    """(text, codec) in the declared encoding, or the superset browsers use; None if neither decodes."""
    try:
        text = content.decode(name)
    except UnicodeDecodeError:
        text = None
    else:
        if name != "iso8859-1" or not _C1.search(text):
            return text, name
    superset = _SUPERSETS.get(name)
    if superset == "cp1252":
        return windows_1252(content), "cp1252"
    if superset:
        try:
            return content.decode(superset), superset
        except UnicodeDecodeError:
            pass
    return None


def _as(data: bytes, encoding: str, what: str) -> Decoded:
    """`data` in the encoding a byte order mark or the layout names; invalid bytes noted, not fatal."""
    if encoding == "utf-8":
        text, stray, _ = _mostly_utf8(data)
        return Decoded(text, "utf-8", f"{stray} bytes that are not UTF-8 read as windows-1252" if stray else "")
    try:
        return Decoded(data.decode(encoding), encoding)
    except UnicodeDecodeError as exc:
        text = data.decode(encoding, "replace")
        return Decoded(text, encoding, f"not valid {encoding} as its {what} says ({exc.reason}); replaced")


def _mostly_utf8(data: bytes) -> tuple[str, int, int]:
    """UTF-8 with each byte outside a valid sequence read as windows-1252; counts of those bytes
    and of the characters that were valid multi-byte sequences."""
    raw = data.decode("utf-8", "surrogateescape")
    non_ascii = len(raw) - len(raw.encode("ascii", "ignore"))
    stray = len(_ESCAPED.findall(raw))
    if not stray:
        return raw, 0, non_ascii
    text = _ESCAPED.sub(lambda m: windows_1252(bytes([ord(m[0]) - 0xDC00])), raw)
    return text, stray, non_ascii - stray


def _undeclared(content: bytes, notes: list[str]) -> Decoded:
    """Non-ASCII bytes that are not UTF-8 and that no usable label describes: a guess."""
    text, stray, multibyte = _mostly_utf8(content)
    if multibyte > stray:  # UTF-8 with a few bytes from elsewhere (a pasted Latin-1 line)
        notes.append(f"{stray} bytes that are not UTF-8 read as windows-1252")
        return Decoded(text, "utf-8", "; ".join(notes))
    name = _detect(content)
    if name == "cp1252":
        notes.append("no usable declared encoding; detected windows-1252")
        return Decoded(windows_1252(content), "cp1252", "; ".join(notes))
    if name:
        notes.append(f"no usable declared encoding; detected {name}")
        name = _SUPERSETS.get(name, name)  # never worse than the label it extends
        return Decoded(content.decode(name, "replace"), name, "; ".join(notes))
    notes.append("no usable declared encoding; read as windows-1252")
    return Decoded(windows_1252(content), "cp1252", "; ".join(notes))



def _detect(content: bytes) -> str | None:
    """charset-normalizer's guess for 8-bit text, or None.

    Among the guesses that read the bytes as cleanly as the best one, windows-1252
    wins: it is the web's commonest legacy encoding, and markup-heavy Portuguese
    otherwise comes out as Baltic (cp1257) on coherence alone.
    """
    # The sample starts just before the first non-ASCII byte: a long ASCII head says nothing.
    start = max(0, len(content) - len(content.lstrip(bytes(range(0x80)))) - 1024)
    matches = list(charset_normalizer.from_bytes(content[start : start + DETECT_BYTES]))
    if not matches:
        return None
    cleanest = min(m.chaos for m in matches)
    names = [codec_name(m.encoding) for m in matches if m.chaos <= cleanest + CHAOS_TIE]
    if any(n in _WESTERN for n in names):
        return "cp1252"
    name = codec_name(matches[0].encoding)
    if name in _WESTERN:
        return "cp1252"
    return name if name and name != "ascii" and not name.startswith(("utf-16", "utf-32")) else None
