"""Topics in the editors' app: listed with what each catches, created, edited (the list is filed
again), deleted; only by editors of the list, only with the session's CSRF token.

Also the helpers the other managing pages' tests use (tests/test_manage_feeds.py,
tests/test_manage_subscribers.py): personas, signing in, a form's token.
"""

from __future__ import annotations

import re

import pytest

from digest import audit
from digest.editors.accounts import create_account
from digest.models import DigestList, Topic
from digest.web import create_app
from tests.factories import seed_week

ADA = "ada@example.com"  # admin
ED = "ed@example.com"  # editor of weekly only
PASSWORD = "correct horse battery staple"


@pytest.fixture
def app(settings, store):  # type: ignore[no-untyped-def]
    app = create_app(settings)
    app.testing = True
    return app


@pytest.fixture
def semanal(store):  # type: ignore[no-untyped-def]
    lst = DigestList(slug="semanal", name="El Planeta", from_email="n@planet.example", locale="es",
                     topics=[Topic(slug="ciencia", name="Ciencia")])
    store.add_list(lst)
    return lst


@pytest.fixture
def accounts(store, weekly, semanal):  # type: ignore[no-untyped-def]
    create_account(store, ADA, PASSWORD, role="admin")
    create_account(store, ED, PASSWORD, role="editor", lists=["weekly"])


def signed_in(app, email: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    answer = client.post("/login", data={"email": email, "password": PASSWORD})
    assert answer.status_code == 303, answer.data
    return client


@pytest.fixture
def ada(app, accounts):  # type: ignore[no-untyped-def]
    return signed_in(app, ADA)


@pytest.fixture
def ed(app, accounts):  # type: ignore[no-untyped-def]
    return signed_in(app, ED)


def csrf(client, path: str = "/lists") -> str:  # type: ignore[no-untyped-def]
    page = client.get(path).data.decode()
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def post(client, path: str, data: dict | None = None, **kw):  # type: ignore[no-untyped-def]
    """A form post with the session's token, as the page's form sends it."""
    return client.post(path, data={"csrf": csrf(client), **(data or {})}, **kw)


def follow(client, answer) -> str:  # type: ignore[no-untyped-def]
    """The page a post-redirect-get lands on."""
    assert answer.status_code == 303, answer.data.decode()[:2000]
    return client.get(answer.headers["Location"]).data.decode()


def actions(store, slug):  # type: ignore[no-untyped-def]
    return [(e.account, e.action, e.detail) for e in audit.entries(store, slug)]


# -- listing ---------------------------------------------------------------------------


def test_each_topic_shows_the_articles_it_catches_now(ed, store, weekly):
    made = seed_week(store, ["climate", "space"], per_topic=2, unmatched=1)
    page = ed.get("/lists/weekly/topics").data.decode()
    climate = page.index('id="topic-climate"')
    markets = page.index('id="topic-markets"')
    space = page.index('id="topic-space"')
    for a in made:
        assert a.title in page
    climate_titles = [a.title for a in made if a.url.startswith("https://news.example/climate/")]
    assert all(climate < page.index(t) < markets for t in climate_titles)
    assert all(page.index(t) > space for t in (a.title for a in made if "/space/" in a.url))
    assert "5 of the window's 5 articles filed" in page


# -- changing ----------------------------------------------------------------------------


def test_an_edit_saves_the_topic_clears_the_filings_and_is_audited(ed, store, weekly):
    seed_week(store, ["climate"], per_topic=2, unmatched=0)
    answer = post(ed, "/lists/weekly/topics/climate/edit",
                  {"name": "Climate & energy", "description": "Warming,  emissions\nand power.",
                   "keywords": "climate, solar; wind\ncarbon"})
    page = follow(ed, answer)
    assert "Topic Climate &amp; energy saved" in page
    topic = store.get_list("weekly").topics[0]
    assert (topic.name, topic.description) == ("Climate & energy", "Warming, emissions and power.")
    assert topic.keywords == ["climate", "solar", "wind", "carbon"]
    assert [t.slug for t in store.get_list("weekly").topics] == ["climate", "markets", "space"]  # in place
    assert not store.r.exists(store.key("list", "weekly", "filed"))  # filed again at the next preview
    assert "not filed since the last change" in page
    assert actions(store, "weekly")[0][:2] == (ED, "topic edited")


def test_create_then_delete(ed, store, weekly):
    page = follow(ed, post(ed, "/lists/weekly/topics", {"slug": "oceans", "name": "Oceans", "keywords": "sea"}))
    assert "Topic Oceans created" in page and 'id="topic-oceans"' in page
    assert store.get_list("weekly").topics[-1] == Topic(slug="oceans", name="Oceans", keywords=["sea"])
    page = follow(ed, post(ed, "/lists/weekly/topics/oceans/delete"))
    assert "Topic oceans deleted" in page and 'id="topic-oceans"' not in page
    assert [a for _, a, _ in actions(store, "weekly")][:2] == ["topic deleted", "topic created"]


def test_a_create_does_not_overwrite_and_bad_input_is_said_with_the_form_kept(ed, store, weekly):
    answer = post(ed, "/lists/weekly/topics", {"slug": "space", "name": "Other space"})
    assert answer.status_code == 400 and "has a topic &#39;space&#39; already" in answer.data.decode()
    assert store.get_list("weekly").topics[2].name == "Space"
    answer = post(ed, "/lists/weekly/topics", {"slug": "Bad Slug!", "name": "Typed name"})
    assert answer.status_code == 400 and "not a valid id" in answer.data.decode()
    assert 'value="Typed name"' in answer.data.decode()
    answer = post(ed, "/lists/weekly/topics", {"slug": "more", "name": "More"})
    assert answer.status_code == 400 and "reserved" in answer.data.decode()
    answer = post(ed, "/lists/weekly/topics/nope/edit", {"name": "X"})
    assert answer.status_code == 404
    assert len(store.get_list("weekly").topics) == 3


# -- access --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/lists/semanal/topics/ciencia/edit", "/lists/semanal/topics/ciencia/delete",
                                  "/lists/semanal/topics"])
def test_an_editor_of_another_list_gets_404_and_changes_nothing(ed, store, semanal, path):
    assert ed.get("/lists/semanal/topics").status_code == 404
    answer = post(ed, path, {"slug": "x", "name": "Hacked"})
    assert answer.status_code == 404
    assert store.get_list("semanal").topics == semanal.topics
    assert actions(store, "semanal") == []


def test_without_the_token_or_signed_out_nothing_changes(app, ed, store, weekly):
    for data in ({}, {"csrf": "forged"}):
        answer = ed.post("/lists/weekly/topics/space/delete", data=data)
        assert answer.status_code == 403
    signed_out = app.test_client()
    assert signed_out.get("/lists/weekly/topics").status_code == 302
    assert signed_out.get("/lists/weekly/topics").headers["Location"].startswith("/login")
    assert signed_out.post("/lists/weekly/topics/space/delete").status_code == 403
    assert [t.slug for t in store.get_list("weekly").topics] == ["climate", "markets", "space"]


def test_the_page_escapes_what_editors_typed(ed, store, weekly):
    post(ed, "/lists/weekly/topics/space/edit", {"name": "<script>alert(1)</script>", "description": '"><img src=x>'})
    page = ed.get("/lists/weekly/topics").data.decode()
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page
    assert '"><img src=x>' not in page
