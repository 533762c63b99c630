"""An editor's morning in headless Chromium, on the real app, store, grouping, renderer and outbox:
sign in, the dashboard, the review page (phone and tablet, light and dark), pin a story, move an
article to another topic, split a story, send a test, approve the waiting issue, sign out. Then who
gets nothing: a session cookie replayed after sign-out, an editor of another list.

Screenshots land in the test's tmp_path (and DIGEST_SCREENSHOTS when set): look at them.
"""

from __future__ import annotations

import email
import re
from email.policy import default as default_policy
from pathlib import Path

import pytest

from digest import audit, dispatch
from digest.deliver.outbox import OutboxSender
from digest.editors import approval, corrections
from digest.editors.accounts import create_account
from digest.editors.approval import InlineQueue
from digest.models import DigestList
from digest.schedule import slot_id
from digest.topics import filing
from digest.web import create_app
from tests.factories import readers, seed_week
from tests.test_approval import NOW, issue_mail, schedule, tick
from tests.test_email_browser import Screenshots
from tests.test_stories import seed_quakes
from tests.test_web_browser import ARGS, CHROMIUM, serve

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed"),
]

ED, OLGA = "ed@example.com", "olga@example.com"  # weekly's editor; semanal's
PASSWORD = "correct horse battery staple"
READERS = 3
PHONE, TABLET, DESKTOP = 375, 600, 1200
EDITOR_PAGES = ("/lists", "/lists/weekly", "/lists/weekly/review", "/lists/weekly/edit", "/lists/weekly/preview",
                "/lists/weekly/audit")


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    """Chromium as conftest starts it, with sandboxed frames painted in-process: full-page screenshots
    otherwise leave the preview frame blank below the window (an out-of-process frame is painted
    only where it shows). What the pages do is the same either way."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, "--disable-features=IsolateSandboxedIframes"])
        yield b
        b.close()


@pytest.fixture
def newsroom(store, settings, weekly, topics):  # type: ignore[no-untyped-def]
    """weekly, scheduled with approval and its slot waiting; a second list and its own editor.

    The climate section holds two earthquakes told by several sources and an orchestra story."""
    store.add_list(DigestList(slug="semanal", name="El Planeta", from_email="n@planet.example", locale="es",
                              postal_address="Calle 1, Madrid"))
    create_account(store, ED, PASSWORD, role="editor", lists=["weekly"])
    create_account(store, OLGA, PASSWORD, role="editor", lists=["semanal"])
    quakes = seed_quakes(store)
    week = seed_week(store, ["space", "markets"])
    store.add_subscribers("weekly", readers(READERS, [None]))
    schedule(store, NOW, needs_approval=True)
    [started] = tick(store, settings, NOW)
    assert started.state == dispatch.WAITING
    return quakes, week


@pytest.fixture
def site(store, settings):  # type: ignore[no-untyped-def]
    """The app on loopback over http (no Secure cookie), sending approved issues in-process to the outbox."""
    app = create_app(settings.model_copy(update={"base_url": "http://127.0.0.1:1"}))
    app.extensions["digest_queue"] = InlineQueue(store, settings, OutboxSender(settings.outbox_dir))
    with serve(app) as url:
        yield url


def sign_in(page, url: str, who: str, path: str = "/lists",  # type: ignore[no-untyped-def]
            shots: Screenshots | None = None) -> None:
    page.goto(url + path)
    assert page.url == f"{url}/login?next={path}"
    if shots:
        shots.take(page, f"login-{page.viewport_size['width']}-light")
    page.get_by_label("Email address").fill(who)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(url + path)


def fits(page) -> bool:  # type: ignore[no-untyped-def]
    """No sideways scrolling: the page is no wider than the window."""
    return page.evaluate("document.scrollingElement.scrollWidth <= innerWidth + 1")


def frame_ready(page) -> str:  # type: ignore[no-untyped-def]
    return page.frame_locator("iframe").locator("body").inner_text(timeout=5000)


def story_card(page, title: str):  # type: ignore[no-untyped-def]
    return page.locator("article.story").filter(has=page.locator("h3", has_text=title))


def mails(settings, folder_prefix: str) -> list[email.message.EmailMessage]:  # type: ignore[no-untyped-def]
    root = settings.outbox_dir
    files = sorted(p for p in root.rglob("*.eml") if p.parent.name.startswith(folder_prefix)) if root.exists() else []
    return [email.message_from_bytes(p.read_bytes(), policy=default_policy) for p in files]  # type: ignore[misc]


def html_of(message) -> str:  # type: ignore[no-untyped-def]
    return message.get_body(("html",)).get_content()


def section_of(html: str, title: str) -> str:
    """The heading of the email's section a headline sits in."""
    at = html.index(title)
    headings = [(m.start(), m.group(1).strip()) for m in
                re.finditer(r'class="section-title"[^>]*>([^<]+)<', html) if m.start() < at]
    return headings[-1][1]


def test_an_editor_reviews_corrects_tests_approves_and_signs_out(browser, site, newsroom, store, settings, tmp_path):
    quakes, week = newsroom
    orchestra = quakes[5]
    chile = next(s for sec in corrections.next_content(store, settings, "weekly").sections for s in sec.stories
                 if quakes[0].id in {a.id for a in s.articles})
    coquimbo = chile.lead  # the story of three sources, under its lead's title
    tsunami = next(a for a in chile.articles if a.id != coquimbo.id)  # split out into a story of its own
    markets_story = next(a for a in week if a.url.startswith("https://news.example/markets/"))
    shots = Screenshots(tmp_path, "editor-flow")
    page = browser.new_page(viewport={"width": PHONE, "height": 800})

    # sign in, and the dashboard says the issue waits
    sign_in(page, site, ED, shots=shots)
    page.set_viewport_size({"width": DESKTOP, "height": 900})
    weekly_card = page.locator("section.card", has=page.get_by_role("heading", name="The Weekly Planet"))
    assert "waiting for approval" in weekly_card.inner_text()
    assert page.get_by_role("heading", name="El Planeta").count() == 0  # not Ed's list
    shots.take(page, "dashboard-1200-light")
    page.set_viewport_size({"width": PHONE, "height": 800})
    assert fits(page)
    shots.take(page, "dashboard-375-light")
    page.emulate_media(color_scheme="dark")
    shots.take(page, "dashboard-375-dark")
    page.emulate_media(color_scheme="light")

    # the review page: the email framed at phone width, then on a tablet; light, then dark
    weekly_card.get_by_role("link", name="Review the next issue").click()
    page.wait_for_url(f"{site}/lists/weekly/review")
    assert page.get_by_role("button", name="Approve and send now").is_enabled()
    page.get_by_role("link", name="Phone 375 px").click()
    page.wait_for_url("**view=phone**")
    assert coquimbo.title in frame_ready(page)
    assert fits(page)
    shots.take(page, "review-375-light")
    page.set_viewport_size({"width": TABLET, "height": 900})
    assert fits(page)
    shots.take(page, "review-600-light")
    page.emulate_media(color_scheme="dark")
    page.get_by_role("link", name="Dark").click()
    page.wait_for_url("**scheme=dark**")
    frame_ready(page)
    assert page.frames[1].evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    shots.take(page, "review-600-dark")
    page.set_viewport_size({"width": PHONE, "height": 800})
    assert fits(page)
    shots.take(page, "review-375-dark")
    page.emulate_media(color_scheme="light")

    # corrections: pin the orchestra, split the tsunami report out, move a markets story to Space
    page.set_viewport_size({"width": DESKTOP, "height": 900})
    page.get_by_role("link", name="Edit next issue").click()
    page.wait_for_url(f"{site}/lists/weekly/edit")
    story_card(page, orchestra.title).get_by_role("button", name="Pin").click()
    page.wait_for_url(re.compile(r"done=pin"))
    assert page.get_by_role("status").inner_text() == "Pinned: the story leads its section."
    assert orchestra.title in page.locator("article.story").first.inner_text()

    card = story_card(page, coquimbo.title)
    assert tsunami.title in card.inner_text()  # one story of three sources, for now
    card.locator("summary").click()
    card.locator(".fix", has_text=tsunami.title).get_by_role("button", name="Split out").click()
    page.wait_for_url(re.compile(r"done=split"))
    assert story_card(page, tsunami.title).count() == 1  # a story of its own
    assert tsunami.title not in story_card(page, coquimbo.title).inner_text()
    # last: a topic correction files the whole window again, by the model instead of the fixture
    card = story_card(page, markets_story.title)
    card.locator("summary").click()  # <details>: opens without script
    card.get_by_label(f"Topic for {markets_story.title}").select_option("space")
    card.get_by_role("button", name="Move to topic").click()
    page.wait_for_url(re.compile(r"done=topic"))
    assert page.get_by_role("status").inner_text().startswith("Moved to the topic")
    space = page.locator("#section-space").locator("xpath=following-sibling::article")
    assert markets_story.title in " ".join(space.all_inner_texts())

    shots.take(page, "edit-1200-light")

    # a test of the corrected issue, to the outbox, marked and not counted
    page.goto(f"{site}/lists/weekly/review")
    to = page.get_by_label("To (up to 10 addresses)")
    assert to.input_value() == ED  # the editor's own address, ready
    to.fill("proof@example.com")
    page.get_by_role("button", name="Send test").click()
    assert page.get_by_role("status").inner_text().startswith("Test sent to proof@example.com")
    [proof] = mails(settings, "test-weekly")
    assert proof["Subject"].startswith("[Test]") and proof["To"] == "proof@example.com"
    html = html_of(proof)
    neighbours = [a.title for a in quakes + week if a.title in html and a.title != orchestra.title
                  and section_of(html, a.title) == section_of(html, orchestra.title)]
    assert all(html.index(orchestra.title) < html.index(t) for t in neighbours)  # pinned: leads its section
    assert section_of(html, markets_story.title) == "Space"
    assert issue_mail(settings) == []  # a test is not the issue

    # approve: sent at once, to every reader, with the corrections
    page.get_by_role("button", name="Approve and send now").click()
    assert page.get_by_role("status").inner_text().startswith("Approved:")
    sent = mails(settings, "weekly-")
    assert sorted(m["To"].addresses[0].addr_spec for m in sent) == [f"reader{i}@example.com" for i in range(READERS)]
    assert not any(m["Subject"].startswith("[Test]") for m in sent)
    assert html_of(sent[0]).index(orchestra.title) < html_of(sent[0]).index(coquimbo.title)
    done = [(e.account, e.action) for e in reversed(audit.entries(store, "weekly"))]  # oldest first
    assert done == [("digest", "approval requested"), (ED, corrections.PIN), (ED, corrections.SPLIT),
                    (ED, corrections.MOVE_TOPIC), (ED, approval.TEST_SEND), (ED, audit.APPROVE)]

    # sign out
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{site}/login?signed_out=1")
    assert page.get_by_role("status").inner_text() == "You are signed out."
    page.goto(f"{site}/lists/weekly/review")
    assert page.url.startswith(f"{site}/login")


def test_a_replayed_cookie_and_another_lists_editor_get_nothing(browser, site, newsroom, store, settings):
    ed = browser.new_context()
    page = ed.new_page()
    sign_in(page, site, ED, "/lists/weekly/review")
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    kept = ed.cookies()
    assert kept and all(c["httpOnly"] for c in kept)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{site}/login?signed_out=1")

    thief = browser.new_context()
    thief.add_cookies(kept)  # the session cookie, replayed after sign-out
    stolen = thief.new_page()
    for path in EDITOR_PAGES:
        stolen.goto(site + path)
        assert stolen.url.startswith(f"{site}/login?next="), path
        assert "The Weekly Planet" not in stolen.content(), path
    for action in ("test", "approve"):
        r = stolen.request.post(f"{site}/lists/weekly/{action}", form={"csrf": token, "to": "thief@example.com",
                                                                        "slot": "x", "when": "now"},
                                headers={"Origin": site}, max_redirects=0)
        assert r.status in (302, 403), action
    assert mails(settings, "test-") == [] and issue_mail(settings) == []

    olga = browser.new_context().new_page()
    sign_in(olga, site, OLGA)
    assert olga.get_by_role("heading", name="El Planeta").is_visible()
    assert "The Weekly Planet" not in olga.content()
    for path in EDITOR_PAGES[1:]:
        r = olga.goto(site + path)
        assert r.status == 404, path
        assert "The Weekly Planet" not in olga.content(), path
    olga.goto(f"{site}/lists")
    token = olga.locator("input[name=csrf]").first.get_attribute("value")
    for action in ("test", "approve", "edit/pin"):
        r = olga.request.post(f"{site}/lists/weekly/{action}", form={"csrf": token, "to": OLGA, "slot": "x",
                                                                      "when": "now", "story": "x"},
                              headers={"Origin": site}, max_redirects=0)
        assert r.status == 404, action
    assert store.slot("weekly", slot_id(NOW))["state"] == "waiting"
    assert mails(settings, "test-") == [] and issue_mail(settings) == []
    assert [e.action for e in audit.entries(store, "weekly")] == ["approval requested"]


def test_moving_one_article_to_a_topic_moves_only_what_is_close_to_it(newsroom, store, settings):
    """After Ed moves one markets story to Space, only articles close to it (digest.topics.classifier:
    follow_corrections) may follow it; the earthquakes and the orchestra stay where they were."""
    from digest.topics.classifier import FOLLOW_FROM
    from digest.topics.embedding import article_text, embed

    quakes, week = newsroom
    markets = [a for a in week if a.url.startswith("https://news.example/markets/")]

    def sections() -> dict[str, str]:
        content = corrections.next_content(store, settings, "weekly")
        return {a.id: sec.slug for sec in content.sections for s in sec.stories for a in s.articles}

    store.forget_filings("weekly")  # the fixture filed them by hand: from here on, the model files them
    before = sections()
    filing.correct(store, settings, "weekly", markets[0].id, "space")
    after = sections()
    assert after[markets[0].id] == "space"
    moved = [i for i in before if i != markets[0].id and after.get(i) != before[i]]
    by_id = {a.id: a for a in quakes + week}
    vectors = embed([article_text(by_id[i].title, by_id[i].summary_text) for i in [markets[0].id, *moved]])
    assert all(float(vectors[0] @ v) >= FOLLOW_FROM for v in vectors[1:]), "an article far from it moved"
    assert all(after[q.id] == before[q.id] for q in quakes if q.id in before)
