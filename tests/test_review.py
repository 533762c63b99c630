"""The next issue's review page: preview frames, dark mode, a reader's view, preflight beside it,
test sends; who may see it, and the frame rules (CSP) of its routes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from digest import audit
from digest.deliver.outbox import OutboxSender
from digest.editors.accounts import create_account
from digest.editors.approval import InlineQueue
from digest.links import make_token
from digest.models import DigestList, Subscriber
from digest.web import create_app
from tests.factories import readers, seed_week

ADA = "ada@example.com"  # admin
ED = "ed@example.com"  # editor of weekly only
PASSWORD = "correct horse battery staple"
STRICT_FRAMES = "frame-ancestors 'none'"


def make_client(settings):  # type: ignore[no-untyped-def]
    app = create_app(settings)
    app.testing = True
    app.extensions["digest_queue"] = InlineQueue(app.extensions["digest"].store, settings,
                                                 OutboxSender(settings.outbox_dir))
    return app.test_client()


@pytest.fixture
def semanal(store):  # type: ignore[no-untyped-def]
    lst = DigestList(slug="semanal", name="El Planeta", from_email="n@planet.example", locale="es",
                     postal_address="Calle 1, Madrid")
    store.add_list(lst)
    return lst


@pytest.fixture
def accounts(store, weekly, semanal):  # type: ignore[no-untyped-def]
    create_account(store, ADA, PASSWORD, role="admin")
    create_account(store, ED, PASSWORD, role="editor", lists=["weekly"])


@pytest.fixture
def issue(store, weekly, topics):  # type: ignore[no-untyped-def]
    """The weekly list's next issue: three topics' articles, three readers (one of space only)."""
    seed_week(store, ["climate", "space", "markets"])
    seed_week(store, ["space"], list_slug="semanal")
    store.add_subscribers("weekly", readers(2, [None]))
    store.add_subscriber("weekly", Subscriber(email="sam@example.com", name="Sam", topics=["space"]))


@pytest.fixture
def ed(settings, accounts, issue):  # type: ignore[no-untyped-def]
    """Ed, signed in."""
    client = make_client(settings)
    assert client.post("/login", data={"email": ED, "password": PASSWORD}).status_code == 303
    return client


def csrf_of(client, path: str = "/lists/weekly/review") -> str:  # type: ignore[no-untyped-def]
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).data.decode()).group(1)  # type: ignore[union-attr]


def outbox(settings, folder: str = "") -> list[Path]:  # type: ignore[no-untyped-def]
    root = settings.outbox_dir / folder if folder else settings.outbox_dir
    return sorted(root.rglob("*.eml")) if root.exists() else []


def test_the_review_page_frames_the_email_at_both_widths_with_preflight_beside_it(ed):
    page = ed.get("/lists/weekly/review")
    assert page.status_code == 200
    html = page.data.decode()
    assert '<iframe src="/lists/weekly/preview?scheme=light" width="700"' in html
    assert "Preflight" in html and "Send a test" in html
    csp = page.headers["Content-Security-Policy"]
    assert "frame-src 'self'" in csp and "default-src 'none'" in csp and "script-src" not in csp
    phone = ed.get("/lists/weekly/review?view=phone&scheme=dark").data.decode()
    assert '<iframe src="/lists/weekly/preview?scheme=dark" width="375"' in phone
    assert "Apple Mail" in phone  # says what the dark view is
    text = ed.get("/lists/weekly/review?view=text").data.decode()
    assert "<iframe" not in text and '<pre class="text">' in text


def test_the_preview_is_what_the_sender_renders_and_may_be_framed_by_our_pages_only(ed, store, settings):
    from digest.issue import next_issue_email

    r = ed.get("/lists/weekly/preview")
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert "frame-ancestors 'self'" in r.headers["Content-Security-Policy"]
    _, _, (html, text) = next_issue_email(store, settings, "weekly")
    assert r.data.decode() == html
    assert ed.get("/lists/weekly/preview?format=text").data.decode() == text
    # every other page keeps the strict default
    for path in ("/lists/weekly", "/lists", "/login", "/lists/weekly/audit"):
        assert STRICT_FRAMES in ed.get(path).headers["Content-Security-Policy"], path


def test_dark_mode_applies_the_emails_own_dark_rules_and_only_in_its_styles(ed):
    light = ed.get("/lists/weekly/preview?scheme=light").data.decode()
    dark = ed.get("/lists/weekly/preview?scheme=dark").data.decode()
    plain = ed.get("/lists/weekly/preview").data.decode()
    assert "prefers-color-scheme: dark" in plain
    assert "prefers-color-scheme" not in dark and "@media all" in dark
    assert '<meta name="color-scheme" content="dark">' in dark
    assert "prefers-color-scheme" not in light and '<meta name="color-scheme" content="light">' in light


def test_force_scheme_leaves_text_outside_style_alone():
    from digest.web.review import force_scheme

    html = ('<style>@media (prefers-color-scheme: dark) { .a { color: #fff } }</style>'
            '<p>@media (prefers-color-scheme: dark) is how emails do it</p>')
    out = force_scheme(html, "dark")
    assert out.startswith("<style>@media all {") and "<p>@media (prefers-color-scheme: dark) is how" in out


def test_as_a_subscriber_would_see_it_their_topics_and_name_never_their_links(ed, store, settings):
    every = ed.get("/lists/weekly/preview").data.decode()
    sam = ed.get("/lists/weekly/preview?email=sam@example.com").data.decode()
    assert "Sam" in sam and "Markets" in every and "Markets" not in sam  # their topics, their greeting
    assert make_token(settings, "weekly", "sam@example.com") not in sam  # never their links
    page = ed.get("/lists/weekly/review?email=sam@example.com").data.decode()
    assert 'src="/lists/weekly/preview?email=sam%40example.com&amp;scheme=light"' in page
    chosen = ed.get("/lists/weekly/review?topic=space&topic=climate&topic=nonsense").data.decode()
    assert 'src="/lists/weekly/preview?topics=climate%2Cspace&amp;scheme=light"' in chosen
    assert "Markets" not in ed.get("/lists/weekly/preview?topics=climate,space").data.decode()
    nobody = ed.get("/lists/weekly/review?email=nobody@example.com")
    assert nobody.status_code == 200 and "nobody@example.com" in nobody.data.decode()  # said, frames show all
    assert ed.get("/lists/weekly/preview?email=nobody@example.com").status_code == 404
    assert ed.get("/lists/weekly/review?email=<script>").status_code == 200
    assert "<script>" not in ed.get("/lists/weekly/review?email=<script>").data.decode()


def test_a_test_send_goes_through_the_sender_marked_and_recorded(ed, store, settings):
    token = csrf_of(ed)
    r = ed.post("/lists/weekly/test", data={"csrf": token, "to": "proof@example.com, second@example.com",
                                            "topic": ["space"]}, follow_redirects=True)
    assert r.status_code == 200 and "Test sent to proof@example.com, second@example.com" in r.data.decode()
    assert r.history[0].status_code == 303  # post, redirect, get: a reload shows the page, sends nothing
    assert "Test sent to" in ed.get(r.request.full_path).data.decode()
    files = outbox(settings)
    assert len(files) == 2
    mail = files[0].read_text()
    assert "Subject: [Test]" in mail and "Markets" not in mail
    [entry] = audit.entries(store, "weekly")
    assert (entry.account, entry.action) == (ED, "test send") and "proof@example.com" in entry.detail
    from digest.deliver.ledger import Ledger

    assert Ledger(store).issues("weekly") == []  # never counted as the issue's send
    bad = ed.post("/lists/weekly/test", data={"csrf": token, "to": "not an address"}, follow_redirects=True)
    assert bad.status_code == 409 and "not an address" in bad.data.decode()
    too_many = ed.post("/lists/weekly/test", data={"csrf": token, "to": ",".join(f"a{i}@x.example" for i in range(11))},
                       follow_redirects=True)
    assert too_many.status_code == 409 and "at most 10" in too_many.data.decode()
    assert len(outbox(settings)) == 2 and len(audit.entries(store, "weekly")) == 1


ROUTES = [("get", "/lists/{}/review"), ("get", "/lists/{}/preview"), ("get", "/lists/{}/preview?format=text"),
          ("post", "/lists/{}/approve"), ("post", "/lists/{}/cancel"), ("post", "/lists/{}/pause"),
          ("post", "/lists/{}/resume"), ("post", "/lists/{}/test")]


def test_an_editor_of_another_list_gets_404_on_every_route_and_action(ed, store, settings):
    token = csrf_of(ed)
    for method, path in ROUTES:
        form = {"csrf": token, "to": ED, "slot": "x", "issue": "x"} if method == "post" else None
        r = getattr(ed, method)(path.format("semanal"), data=form)
        unknown = getattr(ed, method)(path.format("nolist"), data=form)
        assert r.status_code == 404, path
        assert r.data.replace(b"semanal", b"X") == unknown.data.replace(b"nolist", b"X"), path
        if not path.endswith(("pause", "resume")):  # those name an issue; "x" is none of weekly's either
            assert getattr(ed, method)(path.format("weekly"), data=form).status_code != 404, path
    assert audit.entries(store, "semanal") == [] and outbox(settings, "test-semanal") == []


def test_every_action_needs_the_csrf_token_and_a_sign_in(ed, settings, store):
    for _, path in (r for r in ROUTES if r[0] == "post"):
        for data, headers in (({}, {}), ({"csrf": "forged"}, {}),
                              ({"csrf": csrf_of(ed)}, {"Origin": "https://evil.example"})):
            assert ed.post(path.format("weekly"), data={**data, "to": ED}, headers=headers).status_code == 403
        assert make_client(settings).post(path.format("weekly"), data={"to": ED}).status_code == 403
    assert outbox(settings) == [] and [e.action for e in audit.entries(store, "weekly")] == []
    signed_out = make_client(settings)
    for _, path in (r for r in ROUTES if r[0] == "get"):
        assert signed_out.get(path.format("weekly")).status_code == 302


# -- in a real browser ----------------------------------------------------------------------


@pytest.mark.browser
def test_the_review_page_in_chromium_on_a_phone_and_a_desktop_light_and_dark(settings, store, accounts, issue,
                                                                             tmp_path, request):
    from tests.test_web_browser import CHROMIUM, serve

    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed")
    from tests.test_email_browser import Screenshots

    browser = request.getfixturevalue("browser")
    shots = Screenshots(tmp_path, "review")
    app = create_app(settings.model_copy(update={"base_url": "http://127.0.0.1:1"}))  # http: no Secure cookie
    app.extensions["digest_queue"] = InlineQueue(store, settings, OutboxSender(settings.outbox_dir))
    with serve(app) as url:
        page = browser.new_page(viewport={"width": 375, "height": 800})
        page.goto(f"{url}/lists/weekly/review?view=phone")
        page.get_by_label("Email address").fill(ED)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{url}/lists/weekly/review?view=phone")
        frame = page.frame_locator("iframe")
        assert frame.locator("body").inner_text(timeout=5000)  # our page frames our preview (CSP allows it)
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 376  # the page fits a phone
        width = page.evaluate("document.querySelector('iframe').getBoundingClientRect().width")
        assert width == 375
        shots.take(page, "review-375-light")

        def email_background(p) -> str:  # type: ignore[no-untyped-def]
            return p.frames[1].evaluate("getComputedStyle(document.querySelector('.container')).backgroundColor")

        light = email_background(page)
        page.emulate_media(color_scheme="dark")
        page.get_by_role("link", name="Dark").click()
        page.wait_for_url("**scheme=dark**")
        page.frame_locator("iframe").locator("body").inner_text(timeout=5000)
        dark = email_background(page)
        assert dark != light
        shots.take(page, "review-375-dark")
        # the emulation is the email's own dark mode: the raw email, in a dark browser, looks the same
        alone = browser.new_page(color_scheme="dark")
        alone.context.add_cookies(page.context.cookies())
        alone.goto(f"{url}/lists/weekly/preview")
        assert alone.evaluate("getComputedStyle(document.querySelector('.container')).backgroundColor") == dark
        alone.close()
        page.set_viewport_size({"width": 1200, "height": 900})
        page.get_by_role("link", name="Desktop 700 px").click()
        page.wait_for_url("**view=desktop**")
        page.frame_locator("iframe").locator("body").inner_text(timeout=5000)
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 1200
        preflight = page.get_by_role("heading", name="Preflight").bounding_box()
        frame_box = page.locator("iframe").bounding_box()
        assert preflight["x"] > frame_box["x"] + 600  # beside the preview, not below it
        shots.take(page, "review-1200-dark")
        page.emulate_media(color_scheme="light")
        page.get_by_role("link", name="Light").click()
        page.wait_for_url("**scheme=light**")
        page.frame_locator("iframe").locator("body").inner_text(timeout=5000)
        assert email_background(page) == light
        shots.take(page, "review-1200-light")
        page.get_by_label("To (up to 10 addresses)").fill("proof@example.com")
        page.get_by_role("button", name="Send test").click()
        assert page.get_by_text("Test sent to proof@example.com").is_visible()
        assert len(outbox(settings)) == 1
