"""digest/preflight/caniemail.json from caniemail: `python -m digest.preflight.derive ../shared/caniemail`.

caniemail (hteumeuleu/caniemail, MIT) rates ~300 HTML and CSS features in ~40 mail
clients and their versions. Preflight needs far less, so the project carries a
compact derivation (under 60 KB) and never reads ../shared at run time:

- the clients: the main ones (CLIENTS below), each with caniemail's newest verdict.
  "Newest" is the version listed last: caniemail appends each new test, and its
  version names cannot be ordered (Outlook for Mac has "2016" before "16.80");
- per feature: its title, and one letter per client in CLIENTS order: y (supported),
  a (partial), n (not supported), u (unknown or untested); for partial support,
  caniemail's note on what works, once per note with the clients it is about;
- the lookup tables that say which markup uses a feature: CSS properties, values,
  functions, units, selectors, at-rules and media features; HTML elements,
  attributes, input types and link kinds; image formats.

CANIEMAIL-LICENSE beside the JSON carries caniemail's licence and attribution, as
its MIT licence requires of copies of substantial portions. Rerun this script when
../shared/caniemail is updated, and commit both files.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "caniemail.json"
LICENSE_OUTPUT = HERE / "CANIEMAIL-LICENSE"
SOURCE = "https://github.com/hteumeuleu/caniemail"

# (key, caniemail client, caniemail platform, name an editor reads). Gmail and Apple
# Mail open most newsletters; Outlook for Windows is the classic desktop app (Word's
# renderer); the rest are the other large mailbox providers' apps.
CLIENTS = [
    ("gmail-web", "gmail", "desktop-webmail", "Gmail (web)"),
    ("gmail-android", "gmail", "android", "Gmail (Android)"),
    ("gmail-ios", "gmail", "ios", "Gmail (iOS)"),
    ("apple-mail-macos", "apple-mail", "macos", "Apple Mail (macOS)"),
    ("apple-mail-ios", "apple-mail", "ios", "Apple Mail (iOS)"),
    ("outlook-windows", "outlook", "windows", "Outlook for Windows"),
    ("outlook-com", "outlook", "outlook-com", "Outlook.com"),
    ("outlook-macos", "outlook", "macos", "Outlook (macOS)"),
    ("outlook-ios", "outlook", "ios", "Outlook (iOS)"),
    ("outlook-android", "outlook", "android", "Outlook (Android)"),
    ("yahoo-web", "yahoo", "desktop-webmail", "Yahoo Mail (web)"),
    ("yahoo-ios", "yahoo", "ios", "Yahoo Mail (iOS)"),
    ("yahoo-android", "yahoo", "android", "Yahoo Mail (Android)"),
    ("samsung", "samsung-email", "android", "Samsung Email"),
]
NOTE_MAX = 120  # a note longer than this is cut: the editor needs the gist, caniemail.com has the rest

# Where a feature's own name does not say which markup uses it, these do.
CSS_PROPERTIES_BY_KEYWORDS = {  # features whose keywords are the longhand properties they cover
    "css-border", "css-margin", "css-grid-template", "css-inset", "css-column-layout-properties",
    "css-border-inline-block", "css-border-inline-block-individual", "css-border-inline-block-longhand",
    "css-border-radius-logical", "css-margin-inline-block", "css-margin-inline-start-end",
    "css-margin-block-start-end", "css-padding-inline-block", "css-padding-inline-start-end",
    "css-padding-block-start-end", "css-overflow",
}
CSS_SPECIAL = {"css-important", "css-variables", "css-comments", "css-nesting", "css-sytem-ui",
               "css-intrinsic-size", "css-inert-attribute"}
CSS_FUNCTIONS = {"css-rgb": ["rgb"], "css-rgba": ["rgba"], "css-modern-color": ["lch", "oklch", "lab", "oklab"],
                 "css-unit-calc": ["calc"]}
HTML_ELEMENTS_BY_KEYWORDS = {"html-h1-h6", "html-lists", "html-semantics"}
HTML_SPECIAL = {
    "html-image-maps": {"elements": ["map", "area"], "attributes": ["usemap"]},
    "html-srcset": {"attributes": ["srcset", "sizes"]},
    "html-loading-attribute": {"attributes": ["loading"]},
    "html-base": {"elements": ["base"]},
    "html-svg": {"elements": ["svg"]},
}
HTML_OTHER = {"html-anchor-links", "html-mailto-links", "html-doctype", "html-comments", "html-meta-color-scheme"}
IMAGE_EXTENSIONS = {"image-jpg": ["jpg", "jpeg"], "image-heif": ["heif", "heic"], "image-tiff": ["tif", "tiff"],
                    "image-mp4": ["mp4"]}
_IDENT = re.compile(r"-?[a-z][a-z0-9-]*")


def newest(versions: dict[str, str]) -> tuple[str, list[str]]:
    """The verdict of the version caniemail lists last, and its note numbers ("a #1 #3")."""
    if not versions:
        return "u", []
    value = list(versions.values())[-1].split()
    letter = value[0][:1] if value and value[0][:1] in "yanu" else "u"
    return letter, [v.lstrip("#") for v in value[1:] if v.startswith("#")]


def _names(text: str) -> list[str]:
    """Identifiers in a title or keyword list ("gap, column-gap, row-gap", "block-size & inline-size")."""
    words = [w.strip() for w in re.split(r"[,&]| and ", text or "")]
    return [w for w in words if _IDENT.fullmatch(w)]


def classify(feature: dict[str, Any], tables: dict[str, dict[str, str]]) -> None:
    """Record which markup uses the feature in the lookup tables (first feature named wins)."""
    slug, title = feature["slug"], feature["title"].strip()
    keywords = feature.get("keywords") or ""

    def put(table: str, *names: str) -> None:
        for name in names:
            tables[table].setdefault(name.lower(), slug)

    if slug in CSS_SPECIAL or slug in HTML_OTHER:
        if slug == "css-sytem-ui":
            put("css_font_keywords", *_names(title))
        elif slug == "css-intrinsic-size":
            put("css_value_keywords", *_names(title))
        return
    if slug in CSS_FUNCTIONS:
        put("css_functions", *CSS_FUNCTIONS[slug])
    elif slug.startswith("css-unit-"):
        unit = slug.removeprefix("css-unit-")
        put("css_value_keywords" if unit == "initial" else "css_units", "%" if unit == "percent" else unit)
    elif slug.startswith("css-function-") or slug.endswith("-gradient"):
        put("css_functions", title.rstrip("()"))
    elif slug.startswith("css-pseudo-class-"):
        put("css_pseudo_classes", slug.removeprefix("css-pseudo-class-"))
    elif slug.startswith("css-pseudo-element-"):
        put("css_pseudo_elements", slug.removeprefix("css-pseudo-element-"))
    elif slug.startswith("css-selector-"):
        put("css_selectors", slug.removeprefix("css-selector-"))
    elif slug.startswith("css-at-media-"):
        put("css_media_features", *re.findall(r"\(([a-z-]+)\)", title))
    elif slug.startswith("css-at-"):
        put("css_at_rules", slug.removeprefix("css-at-"))
    elif feature["category"] == "css" and ":" in title:  # "display:flex", "flex-wrap: wrap"
        prop, value = (p.strip() for p in title.split(":", 1))
        put("css_values", f"{prop}:{value}")
    elif feature["category"] == "css":
        put("css_properties", *_names(title.removesuffix(" property").removesuffix(" CSS property")))
        if slug in CSS_PROPERTIES_BY_KEYWORDS:
            put("css_properties", *(k for k in _names(keywords) if "-" in k))
        if not any(v == slug for v in tables["css_properties"].values()):
            put("css_properties", slug.removeprefix("css-"))
    elif slug in HTML_SPECIAL:
        put("html_elements", *HTML_SPECIAL[slug].get("elements", []))
        put("html_attributes", *HTML_SPECIAL[slug].get("attributes", []))
    elif slug in HTML_ELEMENTS_BY_KEYWORDS:  # "headings, h1, h2, ...": the tag names only
        put("html_elements", *(k for k in _names(keywords) if re.fullmatch(r"[a-z]+[1-6]?", k) and k != "headings"))
    elif slug.startswith(("html-input-", "html-button-")):
        tag, kind = slug.removeprefix("html-").split("-", 1)
        put("html_input_types", f"{tag}:{kind}")
    elif feature["category"] == "html":
        element = re.fullmatch(r"<([a-z0-9]+)>( element)?", title)
        if element:
            put("html_elements", element.group(1))
        elif title.endswith(" attribute"):
            put("html_attributes", title.removesuffix(" attribute"))
        else:
            put("html_elements", slug.removeprefix("html-"))
    elif feature["category"] == "image":
        put("image_formats", *IMAGE_EXTENSIONS.get(slug, [slug.removeprefix("image-")]))


def derive(features: list[dict[str, Any]], commit: str = "") -> dict[str, Any]:
    tables: dict[str, dict[str, str]] = {name: {} for name in (
        "css_properties", "css_values", "css_value_keywords", "css_font_keywords", "css_functions", "css_units",
        "css_pseudo_classes", "css_pseudo_elements", "css_selectors", "css_at_rules", "css_media_features",
        "html_elements", "html_attributes", "html_input_types", "image_formats")}
    derived: dict[str, Any] = {}
    for feature in sorted(features, key=lambda f: f["slug"]):
        slug = feature["slug"]
        if slug.startswith("_") or feature["category"] not in ("css", "html", "image"):
            continue  # the template, AMP and BIMI: nothing preflight can see in the HTML
        classify(feature, tables)
        letters, notes = "", {}
        for key, client, platform, _ in CLIENTS:
            letter, refs = newest(feature["stats"].get(client, {}).get(platform, {}))
            letters += letter
            text = " ".join(str(feature.get("notes_by_num", {}).get(r, "")) for r in refs).strip()
            if letter == "a" and text:  # what "partial" means; "not supported" needs no note
                text = text if len(text) <= NOTE_MAX else text[:NOTE_MAX - 1].rsplit(" ", 1)[0] + "…"
                notes[text] = f"{notes[text]} {key}" if text in notes else key
        derived[slug] = {"title": feature["title"].strip(), "support": letters, **({"notes": notes} if notes else {})}
    return {
        "source": SOURCE + (f" @ {commit}" if commit else ""),
        "licence": "MIT, see CANIEMAIL-LICENSE",
        "clients": {key: name for key, _, _, name in CLIENTS},
        "features": derived,
        **{name: dict(sorted(table.items())) for name, table in tables.items()},
    }


def source_commit(source: Path) -> str:
    """The caniemail commit the data comes from, as ../shared/README.md names it ("@ 6b086a3")."""
    readme = source.parent / "README.md"
    if readme.exists():
        found = re.search(r"hteumeuleu/caniemail @ ([0-9a-f]{7,40})", readme.read_text(encoding="utf-8"))
        if found:
            return found.group(1)
    try:
        out = subprocess.run(["git", "-C", str(source), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() if out.returncode == 0 else ""
    except OSError:
        return ""


def licence_text(source: Path, commit: str) -> str:
    licence = (source / "LICENSE").read_text(encoding="utf-8").strip()
    return (f"digest/preflight/caniemail.json is derived from caniemail ({SOURCE}"
            f"{' @ ' + commit if commit else ''}),\nthe support data of https://www.caniemail.com by Rémi Parmentier "
            f"and contributors.\nIt keeps a subset of its data, reshaped. caniemail's licence:\n\n{licence}\n")


def write(source: Path, output: Path = OUTPUT, licence_output: Path = LICENSE_OUTPUT) -> int:
    features = json.loads((source / "features.json").read_text(encoding="utf-8"))
    commit = source_commit(source)
    data = derive(features, commit)
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=False)
    output.write_text(text + "\n", encoding="utf-8")
    licence_output.write_text(licence_text(source, commit), encoding="utf-8")
    return len(text.encode("utf-8"))


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        sys.exit("usage: python -m digest.preflight.derive PATH/TO/caniemail (holding features.json and LICENSE)")
    source = Path(argv[0])
    if not (source / "features.json").is_file() or not (source / "LICENSE").is_file():
        sys.exit(f"{source}: no features.json and LICENSE here (caniemail's data, e.g. ../shared/caniemail)")
    size = write(source)
    print(f"{OUTPUT}: {size:,} bytes; {LICENSE_OUTPUT.name} beside it")


if __name__ == "__main__":
    main(sys.argv[1:])
