"""Headless Chromium on the real pages: the unsubscribe flow and the preview on a phone."""

from __future__ import annotations

import shutil
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from digest.links import make_token
from digest.models import Subscriber
from digest.web import create_app
from tests.factories import seed_week

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed"),
]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


EDITOR = {"username": "editor", "password": "a long editor password"}


@contextmanager
def serve(app):  # type: ignore[no-untyped-def]
    """The real app on a loopback port, for the browser; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@pytest.fixture
def site(settings, store):
    credential = type(settings.secret_key)(f"{EDITOR['username']}:{EDITOR['password']}")
    with serve(create_app(settings.model_copy(update={"editor_credential": credential}))) as url:
        yield url


def test_a_reader_unsubscribes_by_clicking_the_button(site, browser, store, settings, weekly):
    store.add_subscriber("weekly", Subscriber(email="alice@example.com"))
    page = browser.new_page()
    page.goto(f"{site}/u/{make_token(settings, 'weekly', 'alice@example.com')}")
    button = page.get_by_role("button", name="Unsubscribe")
    assert button.is_visible()
    assert store.get_subscriber("weekly", "alice@example.com").status == "active"  # opening asked only
    button.click()
    assert "You are unsubscribed" in page.get_by_role("status").inner_text()
    assert store.get_subscriber("weekly", "alice@example.com").status == "unsubscribed"


def test_the_preview_fits_a_phone_and_every_image_has_alt(site, browser, store, weekly, topics, tmp_path):
    seed_week(store, ["space", "climate", "markets"])
    for a in store.articles_between(*_week()):
        a.image = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
        store.save_article(a.model_copy(update={"id": a.id + "x", "url": a.url + "?img", "guid": a.guid + "i",
                                                "content_hash": a.content_hash + "i"}), 3600)
    page = browser.new_page(viewport={"width": 375, "height": 800}, http_credentials=EDITOR)
    page.goto(f"{site}/lists/weekly/preview")
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 375 + 1
    assert page.evaluate("[...document.images].length") > 0
    assert page.evaluate("[...document.images].every(i => i.hasAttribute('alt'))")
    page.emulate_media(color_scheme="dark")
    background = page.evaluate("getComputedStyle(document.querySelector('.container')).backgroundColor")
    assert background == "rgb(22, 27, 34)"  # the dark-mode rule beats the inlined white
    page.screenshot(path=str(tmp_path / "preview-phone-dark.png"), full_page=True)


def _week():  # type: ignore[no-untyped-def]
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    return now - timedelta(days=7), now
