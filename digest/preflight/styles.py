"""The email as the clients see it: lxml's tree, its inline styles read by cssutils, and
what each element inherits (colour, background, font size, weight, hidden or not).

Only inline styles count: preflight reads the email after inlining, where every rule
a client must honour sits on its element; the kept <style> blocks are enhancements
(phones, dark mode) a client may drop.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache

import cssutils
from cssutils.css import Property
from lxml import html as lxml_html
from lxml.etree import ParserError

cssutils.log.setLevel(logging.CRITICAL)  # it logs every property it does not know (mso-*) as an error

DEFAULT_FONT_PX = 16.0
LINK_COLOUR = (0, 0, 238)  # the colour a client gives a link that sets none (it does not inherit)
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
FONT_KEYWORDS = {"xx-small": 9.0, "x-small": 10.0, "small": 13.0, "medium": 16.0, "large": 18.0,
                 "x-large": 24.0, "xx-large": 32.0, "xxx-large": 48.0}
FONT_ATTRIBUTE = {"1": 10.0, "2": 13.0, "3": 16.0, "4": 18.0, "5": 24.0, "6": 32.0, "7": 48.0}  # <font size>
ELEMENT_SCALE = {"h1": 2.0, "h2": 1.5, "h3": 1.17, "h5": 0.83, "h6": 0.67, "small": 0.83, "sub": 0.83, "sup": 0.83}
NOT_RENDERED = {"head", "title", "style", "script", "template", "meta", "link"}
BOLD_ELEMENTS = {"b", "strong", "th", "h1", "h2", "h3", "h4", "h5", "h6"}
Colour = tuple[int, int, int]


def parse(html: str) -> lxml_html.HtmlElement | None:
    """The document, or None when there is nothing lxml can read as HTML."""
    try:
        return lxml_html.document_fromstring(html)
    except (ParserError, ValueError):
        return None


@lru_cache(maxsize=4096)  # a digest repeats the same few style attributes on every card
def inline(style: str) -> tuple[Property, ...]:
    """The declarations of a style attribute, in order (a later one wins)."""
    return tuple(cssutils.parseStyle(style, validate=False).getProperties(all=True))


def declared(el: lxml_html.HtmlElement) -> dict[str, Property]:
    """An element's inline properties by name, the winning declaration of each."""
    found: dict[str, Property] = {}
    for prop in inline(el.get("style") or ""):
        if prop.priority or not (found.get(prop.name) and found[prop.name].priority):
            found[prop.name] = prop
    return found


def label(el: lxml_html.HtmlElement) -> str:
    """How an editor finds an element: tag, classes, line ("td.card, line 40")."""
    classes = "".join(f".{c}" for c in (el.get("class") or "").split()[:2])
    line = f", line {el.sourceline}" if el.sourceline else ""
    return f"{el.tag}{classes}{line}"


@dataclass(frozen=True)
class Computed:
    colour: Colour | None = None  # None: the client's default (black), nothing set on the way down
    colour_unknown: bool = False  # var(), currentColor, a translucent colour: contrast cannot be computed
    background: Colour | None = None  # None: nothing set (white), or one preflight cannot judge
    background_unknown: bool = False  # a translucent colour or an image: contrast cannot be computed
    font_px: float = DEFAULT_FONT_PX
    bold: bool = False
    hidden: bool = False  # display:none, the hidden attribute, or collapsed to nothing
    outlook_hidden: bool = False  # mso-hide:all: Outlook for Windows does not show it


def colour_of(prop: Property | None) -> tuple[Colour | None, bool]:
    """(colour, known): an opaque colour; (None, True) for transparent; (None, False) when unknown."""
    if prop is None:
        return None, True
    for value in prop.propertyValue:
        if value.type == "COLOR_VALUE":
            alpha = value.alpha
            if alpha == 0:
                return None, True
            if alpha < 1:
                return None, False
            return (value.red, value.green, value.blue), True
        if value.type in ("URI", "FUNCTION", "VARIABLE"):  # an image, gradient or var(): cannot judge
            return None, False
        if prop.name in ("color", "background-color") and value.type == "IDENT":  # currentColor, inherit
            return None, value.value.lower() in ("transparent",)
    return None, True


def _font_px(prop: Property | None, parent: float) -> float:
    if prop is None:
        return parent
    values = list(prop.propertyValue)
    if not values:
        return parent
    v = values[0]
    if v.type == "DIMENSION":
        unit, n = (v.dimension or "").lower(), float(v.value)
        return {"px": n, "pt": n * 4 / 3, "em": n * parent, "rem": n * DEFAULT_FONT_PX,
                "pc": n * 16, "in": n * 96, "cm": n * 96 / 2.54, "mm": n * 96 / 25.4}.get(unit, parent)
    if v.type == "PERCENTAGE":
        return parent * float(v.value) / 100
    if v.type == "NUMBER" and float(v.value) == 0:
        return 0.0
    if v.type == "IDENT":
        word = v.value.lower()
        if word == "smaller":
            return parent / 1.2
        if word == "larger":
            return parent * 1.2
        return FONT_KEYWORDS.get(word, parent)
    return parent


def _computed(el: lxml_html.HtmlElement, parent: Computed) -> Computed:
    props = declared(el)
    state = parent
    colour, known = colour_of(props.get("color"))
    if not known or (props.get("color") is not None and colour is None):
        state = replace(state, colour=None, colour_unknown=True)
    elif el.tag == "a":
        state = replace(state, colour=colour or LINK_COLOUR, colour_unknown=False)
    elif colour is not None:
        state = replace(state, colour=colour, colour_unknown=False)
    elif el.tag == "font" and el.get("color"):
        legacy, _ = colour_of(_attribute_as("color", el.get("color")))
        state = replace(state, colour=legacy or state.colour)
    background = props.get("background-color") or props.get("background")
    if background is None and el.get("bgcolor"):
        background = _attribute_as("background-color", el.get("bgcolor"))
    if background is not None:
        bg, known = colour_of(background)
        if bg is not None:
            state = replace(state, background=bg, background_unknown=False)
        elif not known:
            state = replace(state, background_unknown=True)
    size = state.font_px * ELEMENT_SCALE.get(el.tag, 1.0)
    if el.tag == "font" and el.get("size") in FONT_ATTRIBUTE:
        size = FONT_ATTRIBUTE[el.get("size")]
    size = _font_px(props.get("font-size"), size if "font-size" not in props else state.font_px)
    weight = props.get("font-weight")
    bold = state.bold or el.tag in BOLD_ELEMENTS
    if weight is not None:
        word = weight.value.lower()
        bold = word in ("bold", "bolder") or (word.isdigit() and int(word) >= 700)
    hidden = state.hidden or el.tag in NOT_RENDERED or el.get("hidden") is not None or _collapsed(props)
    mso = props.get("mso-hide")
    outlook_hidden = state.outlook_hidden or (mso is not None and mso.value.lower() == "all")
    return replace(state, font_px=size, bold=bold, hidden=hidden, outlook_hidden=outlook_hidden)


def _attribute_as(name: str, value: str) -> Property | None:
    """A presentational attribute (bgcolor, <font color>) read as the property it stands for."""
    parsed = [p for p in inline(f"{name}: {value}") if p.name == name]
    return parsed[0] if parsed else None


def _collapsed(props: dict[str, Property]) -> bool:
    """Not shown: display:none, or squeezed to nothing (max-height:0 with overflow:hidden)."""
    display = props.get("display")
    if display is not None and display.value.lower() == "none":
        return True
    height, overflow = props.get("max-height"), props.get("overflow")
    return (height is not None and height.value.strip() in ("0", "0px")
            and overflow is not None and overflow.value.lower() == "hidden")


Event = tuple[str, lxml_html.HtmlElement, Computed, str]  # ("start" | "text" | "end", element, its state, text)


def walk(root: lxml_html.HtmlElement) -> Iterator[Event]:
    """Every element and run of text in document order, with what applies there.

    A run of text belongs to the element it sits directly in (an element's text, and
    the tails of its children). Iterative: a hostile email nested 10,000 deep must
    not hit Python's recursion limit.
    """
    stack: list[tuple[str, lxml_html.HtmlElement, Computed]] = [("enter", root, Computed())]
    while stack:
        action, el, state = stack.pop()
        if action == "tail":
            if el.tail:
                yield ("text", el.getparent(), state, el.tail)
            continue
        if action == "end":
            yield ("end", el, state, "")
            continue
        if not isinstance(el.tag, str):  # comments (Outlook's conditional ones too), processing instructions
            continue
        own = _computed(el, state)
        yield ("start", el, own, "")
        if el.text:
            yield ("text", el, own, el.text)
        stack.append(("end", el, own))
        for child in reversed(el):
            stack.append(("tail", child, own))
            stack.append(("enter", child, own))
