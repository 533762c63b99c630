"""Accessibility: language, layout tables, image text, contrast and font sizes.

Rules (README, "Preflight"):
- <html lang> missing or malformed blocks: a screen reader reads the whole issue in
  the wrong voice (a Spanish list read with English rules).
- An <img> without alt blocks: screen readers read its file name instead; a linked
  image with empty alt and no other text leaves a link with no name, which blocks too.
- A layout table (no <th>, no <caption>) without role="presentation" warns: screen
  readers announce its rows and columns, which is noise, not loss.
- Text below WCAG AA contrast (4.5:1; 3:1 from 24 px, or 18.66 px bold) against its
  background blocks. Only where the email sets a colour (inline: text, background,
  bgcolor), which is the only place a colour can go wrong; a translucent colour or a
  background image cannot be judged and is skipped.
- Visible text under 14 px warns, under 11 px blocks (unreadable on a phone).
"""

from __future__ import annotations

import re

from lxml import html as lxml_html

from digest.preflight.report import Report
from digest.preflight.styles import BLACK, WHITE, Colour, Computed, label, walk

LANG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")
AA_NORMAL, AA_LARGE = 4.5, 3.0
WARN_UNDER_PX, BLOCK_UNDER_PX = 14.0, 11.0


def luminance(colour: Colour) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: Colour, b: Colour) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _hex(colour: Colour) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


def check_language(doc: lxml_html.HtmlElement, report: Report) -> None:
    lang = (doc.get("lang") or "").strip()
    if not LANG.fullmatch(lang):
        report.add("block", "lang-missing",
                   "The email does not say its language (<html lang>): screen readers read it with the "
                   "reader's default voice and rules." if not lang else
                   f"The email's language {lang!r} is not a language tag (like \"en\" or \"pt-BR\").",
                   label(doc))


def check_tables_and_images(doc: lxml_html.HtmlElement, report: Report) -> None:
    layout = [t for t in doc.iter("table") if (t.get("role") or "").strip().lower() not in ("presentation", "none")
              and not t.findall(".//th") and t.find("caption") is None]
    if layout:
        report.add("warn", "table-role",
                   f"{len(layout)} layout table(s) lack role=\"presentation\": screen readers announce their "
                   "rows and columns.", label(layout[0]) + (f" and {len(layout) - 1} more" if len(layout) > 1 else ""))
    for img in doc.iter("img"):
        alt = img.get("alt")
        if alt is None:
            report.add("block", "img-alt-missing",
                       "An image has no alt text: screen readers read its file name instead.",
                       f"{label(img)} src={(img.get('src') or '')[:80]!r}")
            continue
        link = next((a for a in img.iterancestors("a")), None)
        if not alt.strip() and link is not None and not link.text_content().strip() \
                and not (link.get("aria-label") or "").strip() \
                and not any((i.get("alt") or "").strip() for i in link.iter("img")):
            report.add("block", "link-no-name",
                       "A linked image has empty alt text and the link no other text: screen readers announce "
                       "a link with no name.", label(link))


def check_text(doc: lxml_html.HtmlElement, report: Report) -> None:
    """Contrast and size of every visible run of text, one finding per colour pair or size."""
    low: dict[tuple[Colour, Colour, float], list[str]] = {}
    small: dict[float, list[str]] = {}
    for kind, el, state, text in walk(doc):
        if kind != "text" or state.hidden or not text.strip():
            continue
        where = f"{label(el)}: {' '.join(text.split())[:40]!r}"
        ratio = _contrast_problem(state)
        if ratio is not None:
            low.setdefault((state.colour or BLACK, state.background or WHITE, ratio), []).append(where)
        px = round(state.font_px, 1)
        if px < WARN_UNDER_PX:
            small.setdefault(px, []).append(where)
    for (fg, bg, ratio), where in low.items():
        report.add("block", "contrast",
                   f"Text in {_hex(fg)} on {_hex(bg)} has a contrast of {ratio:.2f}:1, under WCAG AA "
                   f"({AA_NORMAL}:1, {AA_LARGE}:1 for large text): hard to read for many.", _more(where))
    for px, where in sorted(small.items()):
        severity = "block" if px < BLOCK_UNDER_PX else "warn"
        report.add(severity, "font-size-small",
                   f"Text at {px:g} px is {'unreadable' if severity == 'block' else 'small'} on a phone "
                   f"(at least {WARN_UNDER_PX:g} px reads well).", _more(where))


def _contrast_problem(state: Computed) -> float | None:
    """The ratio, when the email set a colour here and the pair falls under AA."""
    if state.background_unknown or state.colour_unknown or (state.colour is None and state.background is None):
        return None
    large = state.font_px >= 24 or (state.bold and state.font_px >= 18.66)
    ratio = contrast(state.colour or BLACK, state.background or WHITE)
    return round(ratio, 2) if ratio < (AA_LARGE if large else AA_NORMAL) else None


def _more(where: list[str]) -> str:
    return where[0] + (f" and {len(where) - 1} more" if len(where) > 1 else "")


def check_accessibility(doc: lxml_html.HtmlElement, report: Report) -> None:
    check_language(doc, report)
    check_tables_and_images(doc, report)
    check_text(doc, report)
