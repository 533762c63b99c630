"""Make feed content safe and comparable: sanitized HTML, canonical URLs, text, hashes."""

from __future__ import annotations

import hashlib
import html as htmllib
import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import nh3
from lxml import html as lxml_html
from lxml.etree import ParserError

# What may reach an email. No script, style, iframe, form, object or event
# handler: nh3 drops every tag and attribute not named here.
ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "cite", "code", "em", "figcaption", "figure",
    "h1", "h2", "h3", "h4", "i", "img", "li", "ol", "p", "pre", "q", "s", "small",
    "strong", "sub", "sup", "u", "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "width", "height"}, "abbr": {"title"}}
URL_SCHEMES = {"http", "https", "mailto"}

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
_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r'(\w+)="([^"]*)"')


def _is_pixel(tag: str) -> bool:
    attrs = {k.lower(): htmllib.unescape(v) for k, v in _ATTR.findall(tag)}
    for dim in ("width", "height"):
        value = attrs.get(dim, "").strip().rstrip("px")
        if value.isdigit() and int(value) <= 2:
            return True
    src = attrs.get("src", "")
    parts = urlsplit(src)
    where = f"{parts.netloc.lower()}{parts.path}"
    return not src or any(where.startswith(host) for host in TRACKER_HOSTS)


def sanitize_html(raw: str) -> str:
    """Allow-listed HTML: safe in an email, with tracking pixels removed."""
    if not raw:
        return ""
    cleaned = nh3.clean(
        raw,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    return _IMG.sub(lambda m: "" if _is_pixel(m.group(0)) else m.group(0), cleaned).strip()


def canonical_url(url: str) -> str:
    """The URL of the page itself: no tracking parameters, no fragment, tidy host."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    host = (parts.hostname or "").lower()
    if parts.port and (parts.scheme, parts.port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{parts.port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not TRACKING_PARAMS.match(k)]
    return urlunsplit((parts.scheme.lower(), host, parts.path or "/", urlencode(query), ""))


_BLOCKS = re.compile(r"</?(p|div|br|li|h[1-6]|blockquote|pre|tr)\b[^>]*>", re.IGNORECASE)


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML snippet, whitespace folded."""
    if not html or not html.strip():
        return ""
    try:
        text = lxml_html.fragment_fromstring(_BLOCKS.sub(" ", html), create_parent="div").text_content()
    except (ParserError, ValueError):
        text = re.sub(r"<[^>]+>", " ", html)
    return " ".join(htmllib.unescape(text).split())


def content_hash(title: str, text: str) -> str:
    """Same story re-published with other case, spacing or accents: same hash."""
    folded = unicodedata.normalize("NFKD", f"{title}\n{text}".casefold())
    letters = "".join(ch for ch in folded if ch.isalnum())
    return hashlib.sha1(letters.encode("utf-8")).hexdigest()


def first_image(html: str) -> str | None:
    match = re.search(r'<img\b[^>]*\bsrc="(https?://[^"]+)"', html or "")
    return htmllib.unescape(match.group(1)) if match else None
