"""The editors' pages under axe-core (bundled in the axe-playwright-python wheel, nothing fetched), in
headless Chromium: sign-in, dashboard, a list, its review page (each view, light and dark), its
corrections page with every form open, its audit log; on a phone and a desktop. No serious or
critical finding. The email inside the review page's frame is checked by tests/test_email_browser.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.editors.accounts import create_account
from digest.web import create_app
from tests.factories import readers, seed_week
from tests.test_approval import NOW, schedule, tick
from tests.test_stories import seed_quakes
from tests.test_web_browser import CHROMIUM, serve

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed"),
]

ED = "ed@example.com"
PASSWORD = "correct horse battery staple"
PAGES = ("/lists", "/lists/weekly", "/lists/weekly/review", "/lists/weekly/review?view=phone&scheme=dark",
         "/lists/weekly/review?view=text&topic=space", "/lists/weekly/edit", "/lists/weekly/audit")
# The frame holds the email (its own test); axe would wait a minute for a frame that runs no script.
AXE_OPTIONS = {"resultTypes": ["violations"], "iframes": False}


def serious_findings(page) -> list[str]:  # type: ignore[no-untyped-def]
    """axe-core's serious and critical findings on the page, each with the elements it names."""
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page, options=AXE_OPTIONS).response["violations"]
    return [f"{v['id']} ({v['impact']}): {v['help']}: {[n['html'][:100] for n in v['nodes'][:3]]}"
            for v in violations if v["impact"] in ("serious", "critical")]


@pytest.fixture
def site(store, settings, weekly, topics):  # type: ignore[no-untyped-def]
    """weekly with an issue waiting for approval (every control of the review page shows), and its editor."""
    create_account(store, ED, PASSWORD, role="editor", lists=["weekly"])
    seed_quakes(store)
    seed_week(store, ["space", "markets"])
    store.add_subscribers("weekly", readers(3, [None]))
    schedule(store, NOW, needs_approval=True)
    tick(store, settings, NOW)
    with serve(create_app(settings.model_copy(update={"base_url": "http://127.0.0.1:1"}))) as url:
        yield url


@pytest.mark.parametrize("width", [375, 1200])
def test_the_editors_pages_have_no_serious_accessibility_problem_light_or_dark(browser, site, width):
    page = browser.new_page(viewport={"width": width, "height": 900})
    found: list[str] = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.goto(f"{site}/login?signed_out=1")  # with its notice
        found += [f"{scheme} /login: {f}" for f in serious_findings(page)]
    page.goto(f"{site}/lists")
    page.get_by_label("Email address").fill(ED)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").is_visible()
    found += [f"login refused: {f}" for f in serious_findings(page)]  # the error, tied to its field
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site}/lists")
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for path in PAGES:
            assert page.goto(site + path).status == 200, path
            page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")  # every form shows
            found += [f"{scheme} {path}: {f}" for f in serious_findings(page)]
    assert found == [], "\n".join(found)
