"""Double opt-in end to end in headless Chromium: the form, the email in the outbox, the link, the button."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from digest.web import create_app
from tests.test_editor_a11y import serious_findings
from tests.test_web_browser import pytestmark, serve  # noqa: F401 (marks: needs Chromium)


@pytest.fixture
def site(settings, store):
    with serve(create_app(settings)) as url:
        yield url


def test_a_reader_subscribes_and_confirms_by_clicking(site, browser, store, settings, weekly):
    started = datetime.now(timezone.utc).replace(microsecond=0)
    page = browser.new_page()
    page.goto(f"{site}/s/weekly")
    trap = page.locator("#website").bounding_box()
    assert trap is None or trap["x"] + trap["width"] <= 0  # the honeypot is off screen
    page.get_by_label("Email address").fill("nora@example.com")
    page.get_by_label("Name (optional)").fill("Nora")
    page.get_by_label("Markets").uncheck()
    page.get_by_role("button", name="Subscribe").click()
    assert "check" not in page.url and "Almost done" in page.get_by_role("status").inner_text()

    message = message_from_bytes(_arrived(settings.outbox_dir / "mail" / "nora@example.com.eml"),
                                 policy=policy.default)
    assert store.get_subscriber("weekly", "nora@example.com").status == "pending"  # written before the mail
    html = message.get_body(("html",)).get_content()
    link = re.search(r'href="(https://digest\.example/c/[^"]+)"', html).group(1)
    page.goto(link.replace(settings.base_url, site))  # BASE_URL is the public name of this server
    button = page.get_by_role("button", name="Confirm my subscription")
    assert button.is_visible()
    name = page.get_by_label("Name in the greeting (optional)")  # what will greet her, hers to change
    assert name.input_value() == "Nora" and "Hello Nora, here is your week." in page.content()
    assert not page.get_by_label("Markets").is_checked() and page.get_by_label("Space").is_checked()
    assert serious_findings(page) == []
    assert store.get_subscriber("weekly", "nora@example.com").status == "pending"  # opening changed nothing
    page.reload()  # nor does opening it again, as a link scanner would
    assert store.get_subscriber("weekly", "nora@example.com").status == "pending"

    name.fill("Nora K")
    button.click()
    assert "You are subscribed" in page.get_by_role("status").inner_text()
    sub = store.get_subscriber("weekly", "nora@example.com")
    assert (sub.status, sub.name, sub.consent, sub.source, sub.ip) == ("active", "Nora K", "double-opt-in", "form",
                                                                       "127.0.0.1")
    assert sub.confirmed_at is not None and sub.confirmed_at >= started and sub.created_at >= started
    assert sorted(sub.topics) == ["climate", "more", "space"]
    assert store.subscriber_count("weekly") == 1

    page.get_by_role("link", name="Choose your topics").click()
    page.get_by_label("Pause my emails for").select_option("2")
    page.get_by_role("button", name="Pause").click()
    assert "Paused." in page.get_by_role("status").inner_text()
    assert store.get_subscriber("weekly", "nora@example.com").status == "paused"
    page.get_by_role("button", name="Resume now").click()
    assert store.get_subscriber("weekly", "nora@example.com").status == "active"


def _arrived(path: Path, timeout: float = 10.0) -> bytes:
    """The message, once the web process has sent it (it answers first, then mails)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"no confirmation email at {path}"
        time.sleep(0.05)
    return path.read_bytes()
