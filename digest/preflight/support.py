"""Which mail clients cannot show what the email uses, from the project's derived caniemail data.

The rule (README, "Preflight"):

- Only the body counts: inline styles, elements, attributes, link kinds, image
  formats. The <head> is advice a client may ignore (meta tags), and the kept <style>
  blocks are enhancements by construction (every rule a client must honour was
  inlined), except @import and @font-face, which load from elsewhere: a warning.
- A feature counts as unsupported in a client when caniemail's newest verdict is
  "not supported". Partial support is not reported: caniemail marks most everyday
  properties partial somewhere (margin in Gmail: no negative values), and a report
  listing them would bury the rest.
- Block when a feature whose loss loses content or layout (CONTENT below: video,
  forms, SVG, positioning, grid, CSS variables, rem units, WebP images, ...) is not
  supported in a main client other than Outlook for Windows. The same feature
  unsupported only in Outlook for Windows warns: Outlook's Word renderer ignores
  much of CSS, and the layout's ghost table is built for it.
- Any other unsupported feature warns, all of them in one finding (the readers of
  those clients get the email without it); those that only Outlook for Windows
  ignores in another. Uses inside an element
  hidden from Outlook (mso-hide:all, the preheader) do not count for Outlook.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from lxml import html as lxml_html

from digest.preflight.report import Report
from digest.preflight.styles import Computed, inline, label, walk

DATA = "caniemail.json"
OUTLOOK_WINDOWS = "outlook-windows"
CONTENT = {
    "html-svg", "html-video", "html-audio", "html-object", "html-form", "html-select", "html-textarea",
    "html-input-checkbox", "html-input-hidden", "html-input-radio", "html-input-reset", "html-input-submit",
    "html-input-text", "html-button-reset", "html-button-submit", "html-image-maps", "html-link", "html-base",
    "html-dialog", "html-meter", "html-progress",
    "image-avif", "image-base64", "image-bmp", "image-hdr", "image-heif", "image-ico", "image-mp4", "image-svg",
    "image-tiff", "image-webp",
    "css-position", "css-left-right-top-bottom", "css-inset", "css-z-index", "css-display-grid",
    "css-grid-template", "css-display-flex", "css-flex-direction", "css-flex-wrap", "css-justify-content",
    "css-align-items", "css-gap", "css-variables", "css-background-image", "css-unit-rem", "css-unit-vw",
    "css-unit-vh", "css-unit-vmin", "css-unit-vmax", "css-unit-calc", "css-function-clamp", "css-function-min",
    "css-function-max", "css-function-light-dark", "css-modern-color", "css-mask-image", "css-clip-path",
    "css-intrinsic-size",
}
LOADS = {"css-at-import", "css-at-font-face"}  # in a <style> block, still worth a warning


@dataclass
class Caniemail:
    """The derived data (digest/preflight/derive.py): clients, features and their lookup tables."""

    clients: dict[str, str]
    features: dict[str, dict[str, Any]]
    tables: dict[str, dict[str, str]]

    def unsupported(self, slug: str) -> list[str]:
        """The clients (keys) where the feature is not supported, in caniemail's newest verdict."""
        letters = self.features.get(slug, {}).get("support", "")
        return [key for key, letter in zip(self.clients, letters, strict=False) if letter == "n"]

    def title(self, slug: str) -> str:
        return str(self.features.get(slug, {}).get("title", slug))

    def names(self, keys: list[str]) -> str:
        """Client names, a family's platforms together: "Gmail (iOS), Yahoo Mail (web, iOS)"."""
        families: dict[str, list[str]] = {}
        for key in keys:
            family, _, platform = self.clients[key].partition(" (")
            families.setdefault(family, []).extend([platform.rstrip(")")] if platform else [])
        return ", ".join(f"{f} ({', '.join(p)})" if p else f for f, p in families.items())


@cache
def caniemail() -> Caniemail:
    """The data shipped in the package (the wheel includes it): no ../shared at run time."""
    raw = json.loads(resources.files("digest.preflight").joinpath(DATA).read_text(encoding="utf-8"))
    tables = {k: v for k, v in raw.items() if k not in ("source", "licence", "clients", "features")}
    return Caniemail(clients=raw["clients"], features=raw["features"], tables=tables)


@dataclass
class Uses:
    """Where the email uses one feature."""

    where: list[str] = field(default_factory=list)
    outside_outlook_hidden: bool = False  # used somewhere Outlook for Windows shows

    def add(self, where: str, state: Computed) -> None:
        self.where.append(where)
        self.outside_outlook_hidden |= not state.outlook_hidden


def body_features(doc: lxml_html.HtmlElement, data: Caniemail) -> dict[str, Uses]:
    """The caniemail features the body uses, each with where."""
    t = data.tables
    found: dict[str, Uses] = {}
    body, head = doc.find("body"), doc.find("head")
    extra = list(head.iter("link", "base")) if head is not None else []  # they act from the head too

    def use(slug: str | None, el: lxml_html.HtmlElement, state: Computed, detail: str = "") -> None:
        if slug:
            found.setdefault(slug, Uses()).add(f"{label(el)}{detail}", state)

    for el in extra:
        use(t["html_elements"].get(el.tag), el, Computed())
    for kind, el, state, _ in walk(body if body is not None else doc):
        if kind != "start":
            continue
        if el.tag != "body" or len(el.attrib):  # every email has a body; those clients drop its attributes
            use(t["html_elements"].get(el.tag), el, state)
        if el.tag in ("input", "button"):
            use(t["html_input_types"].get(f"{el.tag}:{(el.get('type') or 'text').lower()}"), el, state)
        for name in el.attrib:
            use(t["html_attributes"].get(name.lower()), el, state)
        href = (el.get("href") or "").strip().lower() if el.tag == "a" else ""
        if href.startswith("#"):
            use("html-anchor-links", el, state)
        elif href.startswith("mailto:"):
            use("html-mailto-links", el, state)
        if el.tag == "img":
            use(image_format(el.get("src") or "", t["image_formats"]), el, state)
        for prop in inline(el.get("style") or ""):
            for slug, detail in css_features(prop, t):
                use(slug, el, state, f" ({detail})")
    return found


def image_format(src: str, formats: dict[str, str]) -> str | None:
    src = src.strip()
    if src.lower().startswith("data:"):
        return formats.get("base64")
    path = urlsplit(src).path.lower()
    return formats.get(path.rsplit(".", 1)[-1]) if "." in path.rsplit("/", 1)[-1] else None


def css_features(prop: Any, t: dict[str, dict[str, str]]) -> list[tuple[str, str]]:
    """(feature, the declaration) for one inline declaration: its property, value, functions, units."""
    name = prop.name.lower()
    if name.startswith(("mso-", "-")) and not name.startswith("--"):
        return []  # Outlook's own and vendor-prefixed properties: meant for one client
    text = f"{name}: {prop.value}"
    slugs = [t["css_properties"].get(name), t["css_values"].get(f"{name}:{prop.value.strip().lower()}")]
    if prop.priority:
        slugs.append("css-important")
    if name.startswith("--"):
        slugs.append("css-variables")
    for value in prop.propertyValue:
        css = value.cssText.lower()
        if value.type == "VARIABLE":
            slugs.append("css-variables")
        elif value.type in ("FUNCTION", "CALC", "COLOR_VALUE") and "(" in css:
            slugs.append(t["css_functions"].get(css.split("(", 1)[0].strip()))
        elif value.type == "DIMENSION":
            slugs.append(t["css_units"].get((value.dimension or "").lower()))
        elif value.type == "PERCENTAGE":
            slugs.append(t["css_units"].get("%"))
        elif value.type == "IDENT":
            word = str(value.value).lower()
            slugs.append(t["css_value_keywords"].get(word))
            if name in ("font-family", "font"):
                slugs.append(t["css_font_keywords"].get(word))
        elif value.type == "URI" and name.startswith("background"):
            slugs.append("css-background-image")
    return [(s, text) for s in dict.fromkeys(slugs) if s]


def style_block_features(doc: lxml_html.HtmlElement, data: Caniemail) -> dict[str, Uses]:
    """The kept <style> blocks' at-rules that load from elsewhere (@import, @font-face)."""
    import cssutils

    found: dict[str, Uses] = {}
    for el in doc.iter("style"):
        sheet = cssutils.parseString(el.text or "", validate=False)
        for rule in sheet.cssRules:
            slug = {rule.IMPORT_RULE: "css-at-import", rule.FONT_FACE_RULE: "css-at-font-face"}.get(rule.type)
            if slug is None and rule.type == rule.UNKNOWN_RULE and rule.cssText.lower().startswith("@import"):
                slug = "css-at-import"  # cssutils drops an @import after other rules; clients may not
            if slug:
                found.setdefault(slug, Uses()).add(f"<style>, line {el.sourceline}", Computed())
    return found


def check_support(doc: lxml_html.HtmlElement, report: Report, data: Caniemail | None = None) -> None:
    data = data or caniemail()
    degrades: list[tuple[str, str]] = []  # (what and where it is not supported, first use)
    outlook_only: list[str] = []
    for slug, uses in sorted(body_features(doc, data).items()):
        lacking = data.unsupported(slug)
        if not uses.outside_outlook_hidden:
            lacking = [c for c in lacking if c != OUTLOOK_WINDOWS]
        if not lacking:
            continue
        where = uses.where[0] + (f" and {len(uses.where) - 1} more" if len(uses.where) > 1 else "")
        others = [c for c in lacking if c != OUTLOOK_WINDOWS]
        title = data.title(slug)
        if slug in CONTENT and others:
            report.add("block", "client-unsupported",
                       f"{title} does not work in {data.names(lacking)}: what it shows or lays out is lost "
                       f"there. Use what every client reads (tables, inline px sizes, JPEG/PNG/GIF images).",
                       where)
        elif slug in CONTENT:
            report.add("warn", "outlook-windows-unsupported",
                       f"{title} does not work in Outlook for Windows: check the issue there, or give Outlook "
                       f"its own fallback.", where)
        elif others:
            degrades.append((f"{title} ({data.names(others)})", uses.where[0]))
        else:
            outlook_only.append(title)
    if degrades:
        report.add("warn", "client-ignores",
                   "Some clients do not support these; their readers get the email without them, which loses "
                   "nothing needed to read it: " + "; ".join(what for what, _ in degrades) + ".",
                   "; ".join(where for _, where in degrades))
    if outlook_only:
        report.add("warn", "outlook-windows-ignores",
                   f"Outlook for Windows ignores {', '.join(outlook_only)} (its Word renderer reads little CSS): "
                   f"check the issue there if the layout depends on them.", "inline styles")
    for slug, uses in sorted(style_block_features(doc, data).items()):
        lacking = data.unsupported(slug)
        if lacking:
            report.add("warn", "client-unsupported",
                       f"{data.title(slug)} does not work in {data.names(lacking)}: those clients show the "
                       f"fallback fonts or styles.", uses.where[0])
