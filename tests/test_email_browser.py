"""The digest as mail clients show it, measured in headless Chromium.

The demo issue (the sample feeds, English and Spanish) and a 50-story issue, at 320,
375 and 600 px, light and dark, as sent, with <style> stripped (Gmail's apps for
other accounts) and with images off: no horizontal overflow, no text under 14 px,
text contrast of 4.5:1 or more, all read from computed styles. Then Gmail's forced
inversion (the page rendered through invert + hue-rotate, the filter Gmail's apps
approximate), Outlook.com's dark mode ([data-ogsc]/[data-ogsb] on the body), axe-core
(bundled in the axe-playwright-python wheel, nothing fetched) on the email and on its
archive pages. Screenshots land in the test's tmp_path; set DIGEST_SCREENSHOTS to a
directory (e.g. var/screenshots) to keep a copy there.
"""

from __future__ import annotations

import email
import os
import re
import shutil
import struct
import zlib
from datetime import datetime, timezone
from email.policy import default as default_policy
from pathlib import Path

import pytest

from digest.archive import PAGE_SIZE
from digest.collect.collector import collect_feed
from digest.deliver.ledger import Ledger
from digest.deliver.outbox import OutboxSender
from digest.deliver.send import prepare_issue, send_inline
from digest.demo import seed, serve_samples
from digest.issue import next_issue
from digest.links import preview_token
from digest.models import Subscriber
from digest.render import personalize
from digest.web import create_app
from tests.test_render import big_issue
from tests.test_web_browser import CHROMIUM, serve

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed"),
]

WIDTHS = (320, 375, 600)
SCHEMES = ("light", "dark")
MODES = ("as-sent", "style-stripped", "images-off")
MIN_FONT_PX = 14
MIN_CONTRAST = 4.5
CARD_RULE_CONTRAST = 1.5  # the line between stories: visible, not loud
SECTION_RULE_CONTRAST = 3.0  # the rule under a section heading: a graphical object that carries structure
GMAIL_INVERSION = "invert(1) hue-rotate(180deg)"


def _png(width: int, height: int, rgb: tuple[int, int, int] = (74, 120, 180)) -> bytes:
    """A plain PNG of a photo's proportions, served for every image the email asks for."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


PHOTO = _png(1200, 675)

# Every visible text node's element: its computed size and colour and the background
# it is painted on (the nearest ancestor with one); the page's width; the rules.
MEASURE = """() => {
  const background = el => {
    for (; el; el = el.parentElement) {
      const bg = getComputedStyle(el).backgroundColor;
      if (bg !== 'rgba(0, 0, 0, 0)' && bg !== 'transparent') return bg;
    }
    return 'rgb(255, 255, 255)';
  };
  const texts = new Map();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!walker.currentNode.data.trim() || texts.has(el)) continue;
    if (!el.checkVisibility({opacityProperty: true, visibilityProperty: true})) continue;
    const cs = getComputedStyle(el);
    texts.set(el, {text: walker.currentNode.data.trim().slice(0, 40), size: parseFloat(cs.fontSize),
                   color: cs.color, background: background(el)});
  }
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && (r.right > innerWidth + 1 || r.left < -1)) wide.push(el.tagName + '.' + el.className);
  }
  const rules = sel => [...document.querySelectorAll(sel)].map(el => [
    getComputedStyle(el).borderBottomColor, background(el), getComputedStyle(el).borderBottomWidth]);
  const container = document.querySelector('.container');
  return {texts: [...texts.values()], scrollWidth: document.scrollingElement.scrollWidth, width: innerWidth,
          wide: wide, cards: rules('.card'), sections: rules('.section'),
          container: container ? background(container) : null};
}"""

# What Chromium's own filter makes of each colour: the inverted rendering, pixel-exact.
FILTERED = """([colours, filter]) => {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 1;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  ctx.filter = filter;
  return colours.map(colour => {
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = colour;
    ctx.fillRect(0, 0, 1, 1);
    const [r, g, b] = ctx.getImageData(0, 0, 1, 1).data;
    return `rgb(${r}, ${g}, ${b})`;
  });
}"""


def rgb(css: str) -> tuple[float, float, float]:
    values = [float(v) for v in re.findall(r"[\d.]+", css)[:3]]
    return values[0], values[1], values[2]


def luminance(css: str) -> float:
    def channel(v: float) -> float:
        v /= 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(v) for v in rgb(css))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def strip_style(html: str) -> str:
    return re.sub(r"<style[^>]*>.*?</style>", "", html, flags=re.S | re.I)


class Screenshots:
    """Where a test's screenshots go: tmp_path, and DIGEST_SCREENSHOTS when set."""

    def __init__(self, tmp_path: Path, name: str) -> None:
        self.folder = tmp_path / "screenshots"
        self.folder.mkdir(exist_ok=True)
        self.keep = Path(os.environ["DIGEST_SCREENSHOTS"]) / name if os.environ.get("DIGEST_SCREENSHOTS") else None

    def take(self, page, label: str, *, tall: int = 4000) -> Path:  # type: ignore[no-untyped-def]
        path = self.folder / f"{label}.png"
        height = page.evaluate("document.scrollingElement.scrollHeight")
        width = page.viewport_size["width"]
        page.screenshot(path=str(path), full_page=True, clip={"x": 0, "y": 0, "width": width,
                                                              "height": min(height, tall)})
        if self.keep:
            self.keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, self.keep / path.name)
        return path


def open_email(page, html: str, *, width: int, scheme: str, mode: str) -> None:  # type: ignore[no-untyped-def]
    """The email as a client would show it: images answered with a photo or refused, <style> kept or not."""
    page.unroute("**/*")

    def answer(route):  # type: ignore[no-untyped-def]
        if route.request.resource_type == "image" and mode != "images-off":
            return route.fulfill(body=PHOTO, content_type="image/png")
        return route.abort()
    page.route("**/*", answer)
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(color_scheme=scheme)
    page.set_content(strip_style(html) if mode == "style-stripped" else html, wait_until="load")


def problems(measured: dict, label: str) -> list[str]:  # type: ignore[type-arg]
    found = []
    if measured["scrollWidth"] > measured["width"] or measured["wide"]:
        found.append(f"{label}: {measured['scrollWidth']} px wide in {measured['width']}: {measured['wide'][:3]}")
    for t in measured["texts"]:
        if t["size"] < MIN_FONT_PX:
            found.append(f"{label}: {t['size']} px text {t['text']!r}")
        if (ratio := contrast(t["color"], t["background"])) < MIN_CONTRAST:
            found.append(f"{label}: contrast {ratio:.2f} for {t['text']!r} ({t['color']} on {t['background']})")
    for kind, rules, least in (("card", measured["cards"], CARD_RULE_CONTRAST),
                               ("section", measured["sections"], SECTION_RULE_CONTRAST)):
        for colour, background, thickness in rules:
            if float(thickness.removesuffix("px")) < 1 or contrast(colour, background) < least:
                found.append(f"{label}: {kind} rule {thickness} {colour} on {background}")
    return found


def serious_findings(page) -> list[str]:  # type: ignore[no-untyped-def]
    """axe-core's serious and critical findings on the page (axe.min.js from the installed wheel)."""
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}): {v['nodes'][0]['html'][:120]}" for v in violations
            if v["impact"] in ("serious", "critical")]


def collect_samples(store, settings) -> None:  # type: ignore[no-untyped-def]
    with serve_samples() as base:
        seed(store, base, datetime.now(timezone.utc))
        for feed in store.feeds():
            assert collect_feed(store, settings, feed.id, force=True).error is None


@pytest.fixture
def demo_emails(store, settings) -> dict[str, str]:
    """The demo's two issues (English, Spanish) as their first reader gets them, links neutral."""
    collect_samples(store, settings)
    emails = {}
    for slug in ("weekly", "semanal"):
        _, rendered = next_issue(store, settings, slug)
        html, _ = rendered.assemble(None)
        emails[slug] = personalize(html, rendered.reader_values(preview_token(settings, slug), "Alice"))
    return emails


@pytest.fixture
def big_email(store, settings, weekly) -> str:
    big_issue(store, 50)
    store.add_list(weekly.model_copy(update={"max_per_section": 50}))
    _, rendered = next_issue(store, settings, "weekly")
    html, _ = rendered.assemble(None)
    return personalize(html, rendered.reader_values(preview_token(settings, "weekly"), "Alice"))


@pytest.fixture
def emails(request) -> dict[str, str]:  # type: ignore[no-untyped-def]
    if request.param == "demo":
        return request.getfixturevalue("demo_emails")
    return {"big": request.getfixturevalue("big_email")}


@pytest.mark.parametrize("emails", ["demo", "big"], indirect=True)
def test_every_width_scheme_and_degradation_fits_and_reads(emails, browser, tmp_path):
    shots = Screenshots(tmp_path, "layout")
    page = browser.new_page()
    found: list[str] = []
    for name, html in emails.items():
        for mode in MODES:
            for scheme in SCHEMES:
                for width in WIDTHS:
                    label = f"{name}-{mode}-{scheme}-{width}"
                    open_email(page, html, width=width, scheme=scheme, mode=mode)
                    measured = page.evaluate(MEASURE)
                    assert len(measured["texts"]) > 20, label
                    found += problems(measured, label)
                    dark = scheme == "dark" and mode != "style-stripped"
                    assert (luminance(measured["container"]) < 0.05) == dark, label  # dark mode took
                    shots.take(page, label)
    assert found == []


@pytest.mark.parametrize("mode", ["as-sent", "style-stripped"])
def test_gmails_forced_inversion_stays_legible(demo_emails, browser, tmp_path, mode):
    """Gmail's apps invert a light email's colours whatever it asks; the palette must survive that."""
    shots = Screenshots(tmp_path, "inverted")
    page = browser.new_page()
    for name, html in demo_emails.items():
        open_email(page, html, width=375, scheme="light", mode=mode)
        measured = page.evaluate(MEASURE)
        colours = sorted({c for t in measured["texts"] for c in (t["color"], t["background"])})
        inverted = dict(zip(colours, page.evaluate(FILTERED, [colours, GMAIL_INVERSION]), strict=True))
        assert luminance(inverted["rgb(255, 255, 255)"]) < 0.01  # the filter did invert
        weak = [(t["text"], round(contrast(inverted[t["color"]], inverted[t["background"]]), 2))
                for t in measured["texts"] if contrast(inverted[t["color"]], inverted[t["background"]]) < MIN_CONTRAST]
        assert weak == [], name
        page.evaluate(f"document.documentElement.style.filter = '{GMAIL_INVERSION}'")
        shots.take(page, f"{name}-{mode}-gmail-inverted-375")


def test_outlook_com_dark_mode_selectors_apply_and_read(demo_emails, browser, tmp_path):
    """Outlook.com marks what it darkens with data-ogsc/data-ogsb; our rules then take over."""
    shots = Screenshots(tmp_path, "outlook-com")
    page = browser.new_page()
    html = demo_emails["weekly"]
    open_email(page, html, width=600, scheme="light", mode="as-sent")
    page.evaluate("document.body.setAttribute('data-ogsc', ''); document.body.setAttribute('data-ogsb', '')")
    measured = page.evaluate(MEASURE)
    assert luminance(measured["container"]) < 0.05
    assert problems(measured, "outlook.com dark") == []
    shots.take(page, "weekly-outlook-com-dark-600")


@pytest.mark.parametrize("emails", ["demo", "big"], indirect=True)
def test_axe_finds_nothing_serious_in_light_or_dark(emails, browser):
    page = browser.new_page()
    for name, html in emails.items():
        for scheme in SCHEMES:
            for mode in ("as-sent", "style-stripped"):
                open_email(page, html, width=375, scheme=scheme, mode=mode)
                assert serious_findings(page) == [], f"{name} {scheme} {mode}"


def test_view_in_browser_and_the_archive_work_on_a_phone(browser, store, settings, weekly, tmp_path):
    """What the footer's links open, on the real web app: the sent issue, rendered for no reader."""
    big_issue(store, 12)
    store.add_subscriber("weekly", Subscriber(email="alice@example.com", name="Alice", topics=["space"]))
    plan = prepare_issue(store, settings, "weekly")
    send_inline(store, settings, OutboxSender(settings.outbox_dir), plan.issue_id)
    message = email.message_from_bytes((settings.outbox_dir / plan.issue_id / "alice@example.com.eml").read_bytes(),
                                       policy=default_policy)
    sent = message.get_body(("html",)).get_content()
    view = re.search(r'href="https://digest\.example(/archive/weekly/[^"?]+\?topics=space)"', sent)
    assert view, "the email links its own page, with the reader's sections"
    ledger = Ledger(store)  # a page of issues after it: the archive's page links are checked too
    for n in range(PAGE_SIZE):
        ledger.create(f"weekly-20260101-{100 + n}", "weekly", {"subject": f"Issue {n}", "status": "done"}, "{}")
    shots = Screenshots(tmp_path, "archive")
    page = browser.new_page(viewport={"width": 320, "height": 800})
    with serve(create_app(settings)) as site:
        for path, label in ((view.group(1), "issue-space"), ("/archive/weekly", "index"),
                            ("/archive/weekly?page=2", "index-page-2")):
            response = page.goto(site + path)
            assert response.status == 200, path
            assert page.evaluate("document.scrollingElement.scrollWidth") <= 320
            assert serious_findings(page) == [], label
            shots.take(page, f"archive-{label}-320")
            assert "Alice" not in page.content() and "alice" not in page.content()  # nobody's page


def test_the_confirmation_email_follows_the_same_rules(browser, store, settings, weekly, tmp_path):
    from digest.subscribe import request_subscription

    request_subscription(store, settings, OutboxSender(settings.outbox_dir), "weekly", "erin@example.com", "Erin",
                         source="form", ip="127.0.0.1")
    [path] = settings.outbox_dir.glob("*/erin@example.com.eml")
    html = email.message_from_bytes(path.read_bytes(), policy=default_policy).get_body(("html",)).get_content()
    shots = Screenshots(tmp_path, "confirm")
    page = browser.new_page()
    found: list[str] = []
    for mode in ("as-sent", "style-stripped"):
        for scheme in SCHEMES:
            open_email(page, html, width=320, scheme=scheme, mode=mode)
            found += problems(page.evaluate(MEASURE), f"confirm-{mode}-{scheme}")
            shots.take(page, f"confirm-{mode}-{scheme}-320")
            assert serious_findings(page) == [], f"{mode} {scheme}"
    assert found == []
