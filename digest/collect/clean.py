"""Make feed content safe and comparable: sanitized HTML, canonical URLs, text, hashes, caps.

Everything here takes text a feed publisher wrote, so every function bounds its
own work: HTML goes through lxml (whose parser stops at 256 levels of nesting)
before nh3, because html5ever's tree builder is quadratic in nesting depth
(200,000 nested tags took nh3 alone four minutes); tracking pixels are found on
that parsed tree, before nh3 drops the style attributes that size or hide them,
and so is page chrome (digest.collect.chrome: share bars, "Read more", cookie
banners), before nh3 would keep the text of the tags it drops. Links that reach
an email are absolute http(s) or mailto, images absolute http(s): relative ones
are resolved against the page they came from, or dropped.
"""

from __future__ import annotations

import hashlib
import html as htmllib
import re
import unicodedata
from functools import lru_cache
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

import nh3
from lxml import etree
from lxml import html as lxml_html
from lxml.etree import ParserError

from digest.collect.chrome import remove_chrome, remove_keeping_tail

# What may reach an email. No script, style, iframe, form, object or event
# handler: nh3 drops every tag and attribute not named here.
ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "cite", "code", "em", "figcaption", "figure",
    "h1", "h2", "h3", "h4", "i", "img", "li", "ol", "p", "pre", "q", "s", "small",
    "strong", "sub", "sup", "u", "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "width", "height"}, "abbr": {"title"}}
URL_SCHEMES = {"http", "https", "mailto"}
MAX_URL_CHARS = 2048  # a longer link or image URL is not kept

# Query parameters that identify a click, not a page.
TRACKING_PARAMS = re.compile(
    r"^(utm_\w+|fbclid|gclid|gclsrc|dclid|msclkid|mc_cid|mc_eid|igshid|yclid|twclid|"
    r"_hsenc|_hsmi|__hstc|__hssc|__hsfp|hsctatracking|ref_src|ref_url|oly_anon_id|oly_enc_id|"
    r"vero_id|wickedid|_openstat|mkt_tok|s_kwcid|ncid|cmpid)$",
    re.IGNORECASE,
)
# Hosts that serve tracking pixels and view counters.
TRACKER_HOSTS = (
    "feeds.feedburner.com", "feedproxy.google.com", "pixel.wp.com", "stats.wordpress.com",
    "www.google-analytics.com", "google-analytics.com", "ad.doubleclick.net", "pixel.quantserve.com",
    "b.scorecardresearch.com", "sb.scorecardresearch.com", "pi.feedsportal.com", "stats.feedsportal.com",
    "www.facebook.com/tr", "counter.theconversation.com", "t.co/i/adsct",
)

# C0 and C1 control characters except tab and newline, DEL, and lone surrogates
# (JSON's "\ud800" decodes to one; Redis and lxml refuse them).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_SPACE = re.compile(r"\s")
_NOT_ALNUM = re.compile(r"[\W_]+")  # str.isalnum is false for exactly these characters
_ASCII_NOT_ALNUM = bytes(b for b in range(128) if not chr(b).isalnum())


def strip_controls(text: str) -> str:
    """`text` without control characters (tab and newline stay) or lone surrogates."""
    return _CONTROLS.sub("", text) if text else ""


def one_line(text: str, limit: int) -> str:
    """Plain text on one line: controls gone, whitespace folded, at most `limit` characters."""
    return truncate_text(" ".join(strip_controls(text[: limit * 4]).split()), limit)


# -- tracking pixels -----------------------------------------------------------------------

_PIXEL_MAX = 2.0  # an image this many pixels wide or high (or less) shows nothing
_LENGTH = re.compile(r"^\s*(-?[0-9]*\.?[0-9]+)\s*(px|pt)?\s*(!important)?\s*$", re.IGNORECASE)


def _tiny(value: str | None) -> bool:
    """A width or height (attribute or CSS) that makes an image invisible: 0, 1 or 2 px."""
    if value is None:
        return False
    match = _LENGTH.match(value)
    return bool(match) and float(match.group(1)) <= _PIXEL_MAX


def _style(element: etree._Element) -> dict[str, str]:
    """The declarations of an element's style attribute, property -> value, lower-cased."""
    found = {}
    for declaration in (element.get("style") or "").split(";"):
        prop, sep, value = declaration.partition(":")
        if sep:
            found[prop.strip().lower()] = value.strip().lower()
    return found


def _hidden(element: etree._Element) -> bool:
    if element.get("hidden") is not None:
        return True
    style = _style(element)
    opacity = _LENGTH.match(style.get("opacity", ""))
    return (
        style.get("display", "").startswith("none")
        or style.get("visibility", "").startswith(("hidden", "collapse"))
        or (opacity is not None and float(opacity.group(1)) <= 0)
    )


def is_tracker_url(url: str | None) -> bool:
    """An image URL that counts views rather than shows something: a known tracker host, or none."""
    return _is_tracker_url(url) if url else True


@lru_cache(maxsize=1024)  # an image is asked about when cleaning and again when it is the card's
def _is_tracker_url(url: str) -> bool:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return True
    return f"{(parts.hostname or '').lower()}{parts.path}".startswith(TRACKER_HOSTS)


def is_pixel_image(url: str | None, width: object = None, height: object = None) -> bool:
    """A feed's own image field (media:content, JSON Feed image) that is a pixel or a tracker."""
    return is_tracker_url(url) or any(_tiny(str(v)) for v in (width, height) if v not in (None, ""))


def _is_pixel(img: etree._Element) -> bool:
    if is_tracker_url(img.get("src")):
        return True
    if _tiny(img.get("width")) or _tiny(img.get("height")):
        return True
    style = _style(img)
    if any(_tiny(style.get(p)) for p in ("width", "height", "max-width", "max-height")):
        return True
    # hidden itself, or inside something hidden (depth is at most lxml's 256)
    return any(_hidden(e) for e in (img, *img.iterancestors()))


def _parse_fragment(raw: str) -> etree._Element | None:
    try:
        return lxml_html.fragment_fromstring(raw, create_parent="div")
    except (ParserError, ValueError, etree.LxmlError):
        return None


# -- HTML ---------------------------------------------------------------------------------


def _nh3(html: str) -> str:
    return _SANITIZER.clean(html).strip()


def _url_gate(tag: str, attribute: str, value: str) -> str | None:
    """nh3's last word on URLs: links absolute http(s) or mailto, images absolute http(s).

    nh3 alone passes relative and scheme-relative URLs, and any allowed scheme in an
    img; it checks the scheme itself, so a prefix is all that is left to check here.
    """
    if tag == "a" and attribute == "href":
        return value if value[:8].lower().startswith(("http://", "https://", "mailto:")) else None
    if tag == "img" and attribute == "src":
        return value if value[:8].lower().startswith(("http://", "https://")) else None
    return value


# Built once: nh3.clean builds the same sanitizer again on every call (a third of its time on a short text).
_SANITIZER = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    attribute_filter=_url_gate,
    url_schemes=URL_SCHEMES,
    link_rel="noopener noreferrer",
    strip_comments=True,
)


def safe_link(url: str | None, base: str = "") -> str | None:
    """`url` as an absolute http(s) or mailto link (resolved against `base` if relative), or None."""
    if not isinstance(url, str):
        return None
    url = strip_controls(url).strip()
    if url.lower().startswith("mailto:"):
        return url if len(url) > len("mailto:") and len(url) <= MAX_URL_CHARS else None
    return safe_image(url, base)


def safe_image(url: str | None, base: str = "") -> str | None:
    """`url` as an absolute http(s) URL (resolved against `base` if relative), or None."""
    if not isinstance(url, str):
        return None
    url = strip_controls(url).strip()
    if base and url:
        try:
            url = urljoin(base, url)
        except ValueError:
            return None
    return http_url(url) or None


# A scheme's "//" followed by more slashes ("http:///host/"): one too many, as feedparser reads it.
_EXTRA_SLASHES = re.compile(r"^([A-Za-z][A-Za-z0-9+-.]*://)(/*)")


def _resolve_urls(root: etree._Element, base: str) -> None:
    """Links and images made absolute against `base` (feedparser's rule), before anything reads
    their URLs: a pixel's host is known only once its URL is. What cannot be joined stays as it is."""
    for tag, attribute in (("a", "href"), ("img", "src")):
        for element in root.iter(tag):
            value = element.get(attribute)
            if value is None or _plainly_absolute(value):
                continue  # most are: nothing to join
            try:
                element.set(attribute, urljoin(base, _EXTRA_SLASHES.sub(r"\1", value.strip())))
            except ValueError:  # also lxml's refusal of a value with control characters
                pass


def _plainly_absolute(url: str) -> bool:
    """An http(s) URL that joining would leave as it is: a host right after its "//", no white
    space or control character, no empty query, fragment or parameters ("...?", "...#")."""
    rest = url[8:] if url.startswith("https://") else url[7:] if url.startswith("http://") else ""
    return (rest[:1] not in ("", "/", "?", "#") and url.isprintable() and not url.endswith(("?", "#", ";", " "))
            and "?#" not in url and ";?" not in url and ";#" not in url)


def _absolute_urls(root: etree._Element, base: str) -> None:
    """Resolve links and images against `base`; unlink what is not http(s)/mailto, drop such images."""
    for link in root.iter("a"):
        href = link.get("href")
        if href is None:
            continue
        resolved = safe_link(href, base)
        if resolved is None:
            del link.attrib["href"]
        else:
            link.set("href", resolved)
    for img in list(root.iter("img")):
        src = safe_image(img.get("src"), base)
        if src is None:  # data:, javascript:, a lazy-loading placeholder, or relative with no base
            remove_keeping_tail(img)
        else:
            img.set("src", src)


def sanitize_html(raw: str, *, base_url: str = "") -> str:
    """Allow-listed HTML: safe in an email, with tracking pixels and page chrome removed.

    Relative links and images are first resolved against `base_url` (the page or
    feed entry the HTML came from; without one they are dropped). Pixels are
    found on lxml's tree of the raw HTML, while the style attribute
    (`width:1px`, `display:none`) is still there to say so; chrome is removed
    from the same tree. nh3 then sanitizes lxml's serialization, which is at most
    256 levels deep.
    """
    raw = strip_controls(raw)
    if not raw or not raw.strip():
        return ""
    root = _parse_fragment(raw)
    if root is None:  # lxml found nothing it could parse: keep the words only
        words = " ".join(_tags_out(raw).split())
        return _nh3(f"<p>{htmllib.escape(words)}</p>") if words else ""
    base = http_url(base_url)
    if base:
        _resolve_urls(root, base)
    for img in list(root.iter("img")):
        if _is_pixel(img):
            remove_keeping_tail(img)
    remove_chrome(root)
    _absolute_urls(root, "")  # resolved already: what is still relative or not http(s)/mailto goes
    return _nh3(etree.tostring(root, encoding="unicode", method="html"))


def truncate_html(html: str, limit: int) -> str:
    """Sanitized HTML cut to at most `limit` characters, still well-formed.

    The cut falls on a space or after a tag, never inside a tag; nh3 then parses
    the cut text again, which drops a half tag and closes the open ones. Closing
    tags make it longer, so a cut that ends up over `limit` is cut shorter.
    """
    if len(html) <= limit:
        return html
    budget = limit
    for _ in range(8):
        cut = html[:budget]
        at = max(cut.rfind(" "), cut.rfind(">") + 1)
        if at > budget // 2:
            cut = cut[:at]
        if cut.rfind("<") > cut.rfind(">"):  # inside a tag: cut before it
            cut = cut[: cut.rfind("<")]
        result = _nh3(cut.rstrip() + " …")
        if len(result) <= limit:
            return result
        budget -= max(len(result) - limit, limit // 10)
        if budget <= 0:
            break
    return _nh3(f"<p>{htmllib.escape(truncate_text(html_to_text(html), limit - 7))}</p>")


def truncate_text(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, cut at a sentence or word end, with "…"."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]  # room for the "…"
    sentence = max(cut.rfind(end) for end in (". ", "! ", "? "))
    if sentence >= limit * 0.7:  # a sentence end near the limit reads best ("… end. …")
        return cut[: sentence + 1] + " …"
    space = max(cut.rfind(" "), cut.rfind("\n"), cut.rfind("\t"))
    if space >= limit // 2:  # else one giant word: cut it
        cut = cut[:space]
    return cut.rstrip() + "…"


# A sentence ends at . ! ? … (and closing quotes or brackets) before a space; not after
# an initial ("J. Doe") or a common abbreviation.
_SENTENCE_END = re.compile(r"(\w*)[.!?…。！？]+[\"'”’»)\]]*(?=\s)")
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "vs", "etc", "eg", "ie", "no", "nr", "vol",
                  "sra", "srta", "dra", "mme", "mlle", "bzw", "usw", "ca", "fig", "inc", "ltd", "co", "corp"}


def excerpt(text: str, limit: int = 280) -> str:
    """The start of `text` in at most `limit` characters, cut at the last sentence end.

    The sentence end must lie past a third of the limit, so that a short "Oof."
    is not all a reader gets; without one there, the text is cut at a word, with "…".
    """
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    window = text[: limit + 1]  # a sentence may end right at the limit
    ends = [m.end() for m in _SENTENCE_END.finditer(window)
            if m.end() <= limit and m.end() >= limit // 3 and not _abbreviation(m.group(1))]
    if ends:
        return text[: ends[-1]]
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-–—") + "…"


def _abbreviation(word: str) -> bool:
    return len(word) == 1 or word.casefold() in _ABBREVIATIONS  # "J. Doe", "e.g. this", "Dr. Who"


_TAG = re.compile(r"<[^>]*>")


def _tags_out(html: str) -> str:
    return htmllib.unescape(_TAG.sub(" ", html))


# -- URLs ---------------------------------------------------------------------------------


# The URL functions below are asked about one entry's link several times (full text, shared
# pages, the article itself): a small cache per process answers the repeats.
URL_CACHE = 1024


def http_url(url: str | None) -> str:
    """`url` when it is an absolute http(s) URL with a host, of a sane length; else ""."""
    return _http_url(url) if isinstance(url, str) else ""


@lru_cache(maxsize=URL_CACHE)
def _http_url(url: str) -> str:
    url = url.strip()
    if not url.lower().startswith(("http://", "https://")) or len(url) > MAX_URL_CHARS:
        return ""
    if _CONTROLS.search(url) or _SPACE.search(url):
        return ""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return ""
    if not parts.hostname or (not url.isascii() and _has_invisible(parts.hostname)):
        return ""  # no host name holds a bidi override or a zero-width character
    return url


def _has_invisible(text: str) -> bool:
    """Holds a format character (Unicode Cf: bidi controls, zero-width ones, soft hyphen, ...)."""
    return any(unicodedata.category(ch) == "Cf" for ch in text if not ch.isascii())


def _invisible_encoded(part: str) -> str:
    """`part` with its format characters percent-encoded, as a browser sends them: a right-to-left
    override in a path would make the link read as another in the email ("…/moc.knab//:sptth")."""
    if part.isascii() or not _has_invisible(part):
        return part
    return "".join(quote(ch, safe="") if unicodedata.category(ch) == "Cf" else ch for ch in part)


def canonical_url(url: str, *, keep_fragment: bool = False) -> str:
    """The URL of the page itself: no tracking parameters, tidy host, and no fragment
    unless `keep_fragment` (the fragment then names an item within the page). Invisible
    format characters are percent-encoded: readers see this URL in the email."""
    return _canonical_url(url, keep_fragment)


@lru_cache(maxsize=URL_CACHE)
def _canonical_url(url: str, keep_fragment: bool) -> str:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    if port and (parts.scheme.lower(), port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not TRACKING_PARAMS.match(k)]
    fragment = _invisible_encoded(parts.fragment) if keep_fragment else ""  # urlencode encodes the query's
    return urlunsplit((parts.scheme.lower(), host, _invisible_encoded(parts.path) or "/", urlencode(query), fragment))


def page_and_fragment(url: str) -> tuple[str, str]:
    """(the canonical page URL, the fragment) of an http(s) URL."""
    try:
        fragment = urlsplit(url.strip()).fragment
    except ValueError:
        fragment = ""
    return canonical_url(url), fragment


# -- text ---------------------------------------------------------------------------------

_BLOCKS = re.compile(r"</?(p|div|br|li|h[1-6]|blockquote|pre|tr)\b[^>]*>", re.IGNORECASE)


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML snippet, whitespace folded."""
    return _text_and_tree(html)[0]


def text_and_first_image(html: str) -> tuple[str, str | None]:
    """html_to_text and first_image of sanitized HTML, from one parse of it."""
    text, root = _text_and_tree(html)
    return text, (_first_image_in(root) if root is not None and "<img" in html else None)


def _text_and_tree(html: str) -> tuple[str, etree._Element | None]:
    html = strip_controls(html)
    if not html or not html.strip():
        return "", None
    if "<" not in html and "&" not in html:  # plain text (most titles): nothing for lxml to do
        return " ".join(html.split()), None
    root = _parse_fragment(_BLOCKS.sub(" ", html))
    if root is not None:
        for hidden in list(root.iter("script", "style", "template")):  # code, not text
            remove_keeping_tail(hidden)
    text = root.text_content() if root is not None else _TAG.sub(" ", html)
    return " ".join(htmllib.unescape(text).split()), root


def content_hash(title: str, text: str) -> str:
    """Same story re-published with other case, spacing or accents: same hash."""
    folded = f"{title}\n{text}".casefold()
    if folded.isascii():  # nothing to decompose, and bytes drop the rest faster than the pattern
        return hashlib.sha1(folded.encode("ascii").translate(None, _ASCII_NOT_ALNUM)).hexdigest()
    letters = _NOT_ALNUM.sub("", unicodedata.normalize("NFKD", folded))  # what str.isalnum keeps
    return hashlib.sha1(letters.encode("utf-8")).hexdigest()


def first_image(html: str) -> str | None:
    """The first real image of sanitized HTML: http(s), not a pixel or a tracker."""
    if not html or "<img" not in html:
        return None
    root = _parse_fragment(html)
    return _first_image_in(root) if root is not None else None


def _first_image_in(root: etree._Element) -> str | None:
    for img in root.iter("img"):
        src = http_url(img.get("src"))
        if src and not _is_pixel(img):
            return src
    return None
