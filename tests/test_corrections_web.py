"""Corrections in the editors' app (/lists/<list>/edit): every action through the real app, store,
grouping and renderer; the preview changes at once; access and CSRF; one browser run on a phone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import html as lxml_html

from digest import audit
from digest.editors import corrections
from digest.web import create_app
from tests.factories import seed_week
from tests.test_editors_auth import ADA, ED, PASSWORD, accounts, csrf_of, semanal, sign_in  # noqa: F401
from tests.test_stories import seed_quakes


@pytest.fixture
def editor(client, store, accounts):  # noqa: F811
    """Ed, signed in: an editor of weekly only. Returns his CSRF token."""
    sign_in(client, ED)
    return csrf_of(client)


def preview(client) -> str:  # type: ignore[no-untyped-def]
    r = client.get("/lists/weekly/preview")
    assert r.status_code == 200
    return r.data.decode()


def story_with(store, settings, article_id: str) -> str:  # type: ignore[no-untyped-def]
    content = corrections.next_content(store, settings, "weekly")
    return next(s.id for sec in content.sections for s in sec.stories if article_id in {a.id for a in s.articles})


def post(client, action: str, token: str, **form: str):  # type: ignore[no-untyped-def]
    return client.post(f"/lists/weekly/edit/{action}", data={"csrf": token, **form})


def test_the_page_lists_sections_stories_topics_and_confidence(client, store, settings, weekly, editor):
    made = seed_quakes(store)
    r = client.get("/lists/weekly/edit")
    assert r.status_code == 200
    page = lxml_html.document_fromstring(r.data)
    content = corrections.next_content(store, settings, "weekly")
    cards = page.find_class("story")
    assert [c.get("id") for c in cards] == [s.id for s in content.sections[0].stories]
    chile = next(c for c in cards if made[1].title in c.text_content())
    text = " ".join(chile.text_content().split())
    assert "Also covered by:" in text and "Climate" in text and "confidence 1.00" in text
    assert len(chile.find_class("also")[0].findall("li")) == 2
    forms = {f.get("action") for f in page.iter("form")}
    for action in ("pin", "move", "topic", "exclude", "split", "merge", "wording", "undo"):
        assert f"/lists/weekly/edit/{action}" in forms, action
    assert all(f.get("method") == "post" and f.xpath("input[@name='csrf']") for f in page.iter("form"))
    assert page.xpath("//nav//a[@href='/lists/weekly/edit']")  # the nav link of a list's pages


def test_every_action_redirects_back_and_the_preview_changes_at_once(client, store, settings, weekly, editor):
    made = seed_quakes(store)
    chile, iran = story_with(store, settings, made[0].id), story_with(store, settings, made[3].id)
    orchestra = story_with(store, settings, made[5].id)

    r = post(client, "wording", editor, subject="Quakes, edited", preheader="A preheader, edited",
             intro="An intro, edited")
    assert r.status_code == 303 and r.headers["Location"] == "/lists/weekly/edit?done=wording#wording"
    html = preview(client)
    assert "A preheader, edited" in html and "An intro, edited" in html
    assert "Saved." in client.get(r.headers["Location"]).data.decode()

    assert made[0].title in html
    assert post(client, "exclude", editor, article=made[0].id).status_code == 303
    assert made[0].title not in preview(client)
    assert post(client, "include", editor, article=made[0].id).status_code == 303
    assert made[0].title in preview(client)

    assert post(client, "move", editor, story=orchestra, direction="up").status_code == 303
    assert post(client, "move", editor, story=orchestra, direction="up").status_code == 303
    html = preview(client)
    assert html.index(made[5].title) < html.index("Coquimbo")

    assert post(client, "pin", editor, story=iran).status_code == 303
    html = preview(client)
    assert html.index("Kerman") < html.index("Coquimbo") < html.index(made[5].title)  # pinned; ranked again
    assert post(client, "pin", editor, story=iran, on="0").status_code == 303

    r = post(client, "split", editor, story=chile, article=made[2].id)
    assert r.status_code == 303 and r.headers["Location"] == f"/lists/weekly/edit?done=split#{chile}"
    alone = story_with(store, settings, made[2].id)
    assert alone != story_with(store, settings, made[0].id)
    assert post(client, "merge", editor, story=alone, other=iran).status_code == 303
    assert story_with(store, settings, made[2].id) == story_with(store, settings, made[3].id)

    assert post(client, "topic", editor, article=made[5].id, topic="space").status_code == 303
    space = client.get("/lists/weekly/preview?topics=space").data.decode()
    assert made[5].title in space
    assert post(client, "undo", editor).status_code == 303
    assert corrections.next_content(store, settings, "weekly").filings[made[5].id].by != "editor"

    done = [e.action for e in audit.entries(store, "weekly")]
    assert done == [corrections.UNDO_TOPIC, corrections.MOVE_TOPIC, corrections.MERGE, corrections.SPLIT,
                    corrections.UNPIN, corrections.PIN, corrections.ORDER, corrections.ORDER, corrections.INCLUDE,
                    corrections.EXCLUDE, corrections.WORDING]
    assert {e.account for e in audit.entries(store, "weekly")} == {ED}


def test_a_subject_with_a_line_break_is_refused_and_hostile_text_stays_text(client, store, settings, weekly,
                                                                              editor):
    seed_quakes(store)
    r = post(client, "wording", editor, subject="Hi\r\nBcc: all@example.com", preheader="", intro="")
    assert r.status_code == 400 and "one line" in r.data.decode()
    assert store.draft("weekly").is_empty and audit.entries(store, "weekly") == []
    r = post(client, "wording", editor, subject='"><script>alert(1)</script>', preheader="<img src=x onerror=1>",
             intro="<b>bold</b>")
    assert r.status_code == 303
    page = client.get("/lists/weekly/edit").data.decode()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    html = preview(client)
    assert "<img src=x" not in html and "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html


def test_a_stale_form_gets_an_answer_not_a_crash(client, store, settings, weekly, editor):
    seed_quakes(store)
    for action, form in (("pin", {"story": "s-gone"}), ("move", {"story": "s-gone", "direction": "up"}),
                         ("exclude", {"article": "f" * 40}), ("include", {"article": "f" * 40}),
                         ("topic", {"article": "f" * 40, "topic": "space"}),
                         ("split", {"story": "s-gone", "article": "f" * 40}),
                         ("merge", {"story": "s-gone", "other": "s-gone2"})):
        r = post(client, action, editor, **form)
        assert r.status_code == 400 and "unknown" in r.data.decode(), action
    assert post(client, "move", editor, story="s-x", direction="sideways").status_code == 400
    assert post(client, "fly", editor).status_code == 404
    assert post(client, "pin", editor, story="s" * 500).status_code == 400
    assert audit.entries(store, "weekly") == [] and store.draft("weekly").is_empty


def test_an_editor_of_another_list_gets_404_for_its_page_and_every_action(client, store, settings, weekly, editor):
    seed_week(store, [], list_slug="semanal")
    for path in ("/lists/semanal/edit", "/lists/nolist/edit"):
        assert client.get(path).status_code == 404
    assert client.get("/lists/semanal/edit").data.replace(b"semanal", b"X") == \
        client.get("/lists/nolist/edit").data.replace(b"nolist", b"X")
    for action in (*corrections_actions(), "fly"):
        r = client.post(f"/lists/semanal/edit/{action}", data={"csrf": editor, "story": "x", "article": "x",
                                                               "subject": "Hijacked"})
        assert r.status_code == 404, action
    assert audit.entries(store, "semanal") == [] and store.draft("semanal").is_empty
    assert "/lists/semanal/edit" not in client.get("/lists/weekly/edit").data.decode()


def corrections_actions() -> list[str]:
    from digest.web.corrections import ACTIONS

    return list(ACTIONS)


def test_forged_or_missing_csrf_and_signed_out_posts_change_nothing(client, store, settings, weekly, editor):
    seed_quakes(store)
    for data, headers in (({}, {}), ({"csrf": "forged"}, {}), ({"csrf": editor}, {"Origin": "https://evil.example"}),
                          ({"csrf": editor}, {"Sec-Fetch-Site": "cross-site"})):
        for action in corrections_actions():
            r = client.post(f"/lists/weekly/edit/{action}", data={**data, "subject": "Forged"}, headers=headers)
            assert r.status_code == 403, (action, data, headers)
    signed_out = create_app(client.application.extensions["digest"].settings).test_client()
    assert signed_out.get("/lists/weekly/edit").status_code == 302
    assert signed_out.post("/lists/weekly/edit/wording", data={"csrf": editor, "subject": "x"}).status_code == 403
    assert store.draft("weekly").is_empty and audit.entries(store, "weekly") == []


# -- in a real browser ----------------------------------------------------------------------


@pytest.mark.browser
def test_an_editor_corrects_the_next_issue_on_a_phone(settings, store, weekly, accounts, tmp_path,  # noqa: F811
                                                      request):
    from tests.test_web_browser import CHROMIUM, serve

    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed")
    from tests.test_email_browser import Screenshots

    browser = request.getfixturevalue("browser")
    shots = Screenshots(tmp_path, "corrections")
    made = seed_quakes(store)
    app = create_app(settings.model_copy(update={"base_url": "http://127.0.0.1:1"}))  # http: no Secure cookie
    with serve(app) as url:
        page = browser.new_page(viewport={"width": 375, "height": 800})
        page.goto(f"{url}/lists/weekly/edit")
        page.get_by_label("Email address").fill(ED)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{url}/lists/weekly/edit")
        assert page.get_by_role("heading", name="Edit the next issue").is_visible()
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 376  # fits a phone
        shots.take(page, "edit-375-light")
        # move the one-source story to the top, with the form's own button
        move_up = page.get_by_role("button", name=f"Move up: {made[5].title}")
        move_up.click()
        page.wait_for_url(re.compile(r"done=up"))
        move_up.click()
        page.wait_for_url(re.compile(r"done=up"))
        assert page.get_by_role("status").inner_text() == "Moved up."
        assert made[5].title in page.locator("article.story").first.inner_text()
        # write a subject, and see it in the preview
        page.get_by_label("Subject", exact=True).fill("Two quakes and an orchestra")
        page.get_by_role("button", name="Save").click()
        page.wait_for_url(re.compile(r"done=wording"))
        assert page.get_by_label("Subject", exact=True).input_value() == "Two quakes and an orchestra"
        page.emulate_media(color_scheme="dark")
        shots.take(page, "edit-375-dark")
        page.locator("article.story summary").nth(1).click()  # a story's article forms, opened without script
        assert page.get_by_role("button", name="Split out").first.is_visible()
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 376
        shots.take(page, "edit-375-dark-fix")
        page.goto(f"{url}/lists/weekly/preview")
        first = page.content().index(made[5].title)
        assert first < page.content().index("Coquimbo")
    assert store.draft("weekly").subject == "Two quakes and an orchestra"
    assert [e.account for e in audit.entries(store, "weekly")] == [ED] * 3
