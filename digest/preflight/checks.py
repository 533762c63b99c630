"""Size, links, unsubscribe, the plain-text part and empty sections.

Rules (README, "Preflight"):
- Size: Gmail clips an email whose HTML passes about 102 KB (102 x 1024 bytes here),
  hiding the rest, footer and unsubscribe link included, behind "View entire
  message". Gmail measures what SendGrid delivers, after click tracking rewrote
  every http(s) link (not those marked clicktracking=off) to its redirect and open
  tracking added a pixel. SendGrid publishes no length for its links; tracked links
  seen in delivered mail run about 350 characters plus one and a half times the
  original URL, so each link is counted as growing by 350 + len(url) / 2 bytes, and
  the pixel as 400. Over the clip blocks; within 10 % of it warns.
- Links: a relative link, an empty one, or one in another scheme than https,
  mailto, tel or #anchor blocks (javascript:, data:, file:, http:). http: to the
  web process's own BASE_URL on a loopback address (the demo, development) warns
  instead. An #anchor with no element of that id warns. An image from a relative
  address blocks, from http: warns.
- Unsubscribe: the HTML must show a link to the reader's unsubscribe URL, and the
  plain-text part (which must exist) must carry it; otherwise block.
- Sections: each <h2> starts a section, the footer or the next <h2> ends it; one
  with no visible text or image under its heading blocks.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from lxml import html as lxml_html

from digest.preflight.report import Report
from digest.preflight.styles import label, walk

GMAIL_CLIP_BYTES = 102 * 1024
NEAR_CLIP = 0.9
TRACKED_LINK_BASE = 350  # bytes a SendGrid click-tracking link adds, plus ...
TRACKED_LINK_PER_CHAR = 0.5  # ... this much per character of the original URL
OPEN_PIXEL_BYTES = 400
SAFE_SCHEMES = {"https", "mailto", "tel"}
FOOTER_CLASSES = {"footer"}


def tracking_growth(url: str) -> int:
    return TRACKED_LINK_BASE + int(len(url) * TRACKED_LINK_PER_CHAR + 0.5)


def check_size(html: str, doc: lxml_html.HtmlElement, report: Report, *, tracked: bool = True) -> None:
    report.html_bytes = len(html.encode("utf-8"))
    rewritten = [a.get("href", "").strip() for a in doc.iter("a")
                 if urlsplit(a.get("href", "").strip()).scheme.lower() in ("http", "https")
                 and (a.get("clicktracking") or "").lower() != "off"] if tracked else []
    report.links = len(rewritten)
    growth = sum(tracking_growth(url) for url in rewritten) + (OPEN_PIXEL_BYTES if tracked else 0)
    report.estimated_bytes = report.html_bytes + growth
    kb = report.estimated_bytes / 1024
    detail = (f"{report.html_bytes / 1024:.1f} KB of HTML, about {kb:.1f} KB once SendGrid's tracking has "
              f"rewritten its {len(rewritten)} links" if tracked else f"{kb:.1f} KB of HTML")
    if report.estimated_bytes > GMAIL_CLIP_BYTES:
        report.add("block", "size-clip",
                   f"The email is too long for Gmail: {detail}, over Gmail's {GMAIL_CLIP_BYTES // 1024} KB. Gmail "
                   "cuts it there and hides the rest, footer and unsubscribe link included. Fewer stories per "
                   "section (the list's max_per_section) make it shorter.", "the whole HTML")
    elif report.estimated_bytes > GMAIL_CLIP_BYTES * NEAR_CLIP:
        report.add("warn", "size-near-clip",
                   f"The email is close to Gmail's {GMAIL_CLIP_BYTES // 1024} KB clip: {detail}.", "the whole HTML")


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_links(doc: lxml_html.HtmlElement, report: Report, *, local_origin: str = "") -> None:
    """local_origin: the web process's BASE_URL; http: to it warns instead of blocking when it is loopback."""
    local = local_origin.rstrip("/") if local_origin and _loopback(local_origin) else ""
    ids = {el.get("id") for el in doc.iter() if isinstance(el.tag, str) and el.get("id")}
    ids |= {el.get("name") for el in doc.iter("a") if el.get("name")}
    bad: dict[str, list[str]] = {}
    for el in doc.iter("a", "area"):
        if el.get("href") is None:
            continue
        href = el.get("href", "").strip()
        parts = urlsplit(href)
        scheme = parts.scheme.lower()
        if href.startswith("#"):
            code = "" if href[1:] in ids else "anchor-missing"
        elif scheme == "http" and local and (href == local or href.startswith(local + "/")):
            code = "link-local-http"
        elif scheme in SAFE_SCHEMES:
            code = "" if scheme != "https" or parts.netloc else "link-relative"
        elif not scheme:
            code = "link-relative"
        else:
            code = "link-not-https"
        if code:
            bad.setdefault(code, []).append(f"{label(el)} href={href[:100]!r}")
    for img in doc.iter("img"):
        src = (img.get("src") or "").strip()
        scheme = urlsplit(src).scheme.lower()
        if not scheme and not src.startswith("//"):
            bad.setdefault("image-relative", []).append(f"{label(img)} src={src[:100]!r}")
        elif scheme == "http":
            bad.setdefault("image-not-https", []).append(f"{label(img)} src={src[:100]!r}")
    messages = {
        "link-relative": ("block", "link(s) have no full address (empty or relative): in an email they lead "
                                   "nowhere."),
        "link-not-https": ("block", "link(s) are not https (http:, javascript:, data:, ...): unsafe or broken "
                                    "for readers; every link must start with https://."),
        "link-local-http": ("warn", "link(s) go to this machine's own BASE_URL over http: fine for a trial here, "
                                    "but set BASE_URL to an https address before sending to readers."),
        "anchor-missing": ("warn", "link(s) jump to a place (#...) the email does not have."),
        "image-relative": ("block", "image(s) have no full address: no client can load them."),
        "image-not-https": ("warn", "image(s) load over http: some clients block them or warn."),
    }
    for code, where in bad.items():
        severity, text = messages[code]
        report.add(severity, code, f"{len(where)} {text}",  # type: ignore[arg-type]
                   where[0] + (f" and {len(where) - 1} more" if len(where) > 1 else ""))


def check_unsubscribe(doc: lxml_html.HtmlElement, text: str, report: Report, *, unsubscribe_url: str) -> None:
    wanted = unsubscribe_url.strip()
    shown = hidden = False
    for kind, el, state, _ in walk(doc):
        if kind == "start" and el.tag == "a" and (el.get("href") or "").strip() == wanted and wanted:
            if state.hidden:
                hidden = True
            else:
                shown = True
    if not shown:
        report.add("block", "unsubscribe-missing",
                   ("The email's unsubscribe link is hidden" if hidden else "The email has no unsubscribe link")
                   + ": the law (CAN-SPAM, GDPR) and Gmail's and Yahoo's sender rules require one readers see.",
                   f"a link to {wanted[:100]}")
    if not text.strip():
        report.add("block", "text-missing",
                   "The plain-text part is missing: clients that show text only get nothing, and spam filters "
                   "distrust HTML-only email.", "the text part")
    elif not wanted or wanted not in text:
        report.add("block", "text-unsubscribe-missing",
                   "The plain-text part has no unsubscribe link: its readers cannot leave.", "the text part")


def _footer(el: lxml_html.HtmlElement) -> bool:
    classes = set((el.get("class") or "").split())
    return el.tag == "footer" or (el.get("role") or "") == "contentinfo" or bool(classes & FOOTER_CLASSES)


def check_sections(doc: lxml_html.HtmlElement, report: Report) -> None:
    """Every section heading (h2) has something visible under it before the next one or the footer."""
    body = doc.find("body")
    heading: lxml_html.HtmlElement | None = None  # the open section's
    filled = True
    inside_heading = 0

    def close() -> None:
        if heading is not None and not filled:
            name = " ".join(heading.text_content().split())[:60]
            report.add("block", "section-empty",
                       f"The section {name!r} has a heading and nothing under it: readers see an empty section.",
                       label(heading))

    for kind, el, state, text in walk(body if body is not None else doc):
        if kind == "start" and (el.tag == "h2" or _footer(el)):
            close()
            heading, filled = (el, False) if el.tag == "h2" else (None, True)
            inside_heading += el.tag == "h2"
        elif kind == "end" and el.tag == "h2":
            inside_heading -= 1
        elif inside_heading or state.hidden:
            continue
        elif (kind == "text" and text.strip()) or (kind == "start" and el.tag == "img"):
            filled = True
    close()
