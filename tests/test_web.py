"""The web process on a real store: preview, unsubscribe (GET asks, POST acts), preferences."""

from __future__ import annotations

import base64
import re

import pytest

from digest.config import ConfigError
from digest.links import make_token, preview_token
from digest.models import Subscriber
from digest.web import create_app
from tests.factories import seed_week

EDITOR = ("ada@example.com", "a long editor password")


@pytest.fixture
def editor(client, store):
    """A client signed in as an admin of the editors' app (tests/test_editors_auth.py: the rest of sign-in)."""
    from digest.editors.accounts import create_account

    create_account(store, EDITOR[0], EDITOR[1], role="admin")
    other = client.application.test_client()
    assert other.post("/login", data={"email": EDITOR[0], "password": EDITOR[1]}).status_code == 303
    return other


@pytest.fixture
def alice(store, settings, weekly):
    store.add_subscriber("weekly", Subscriber(email="alice@example.com", name="Alice"))
    return make_token(settings, "weekly", "alice@example.com")


def test_get_only_asks_and_post_unsubscribes(client, store, alice):
    page = client.get(f"/u/{alice}")
    assert page.status_code == 200
    assert b"al\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2@example.com" in page.data and b"<form method=\"post\">" in page.data
    assert store.get_subscriber("weekly", "alice@example.com").status == "active"
    done = client.post(f"/u/{alice}")
    assert done.status_code == 200 and b"You are unsubscribed" in done.data
    assert store.get_subscriber("weekly", "alice@example.com").status == "unsubscribed"
    assert store.subscriber_count("weekly") == 0
    assert client.post(f"/u/{alice}").status_code == 200  # twice is fine


def test_rfc8058_one_click_post(client, store, alice):
    r = client.post(f"/u/{alice}", data="List-Unsubscribe=One-Click",
                    content_type="application/x-www-form-urlencoded")
    assert r.status_code == 200 and r.mimetype == "text/plain"
    assert store.get_subscriber("weekly", "alice@example.com").status == "unsubscribed"


def test_a_forged_token_changes_nothing(client, store, settings, alice):
    # a reader whose token has the characters that differ between base64 alphabets
    email = next(e for e in (f"reader{i}@example.com" for i in range(1000))
                 if {"-", "_"} & set(make_token(settings, "weekly", e)))
    store.add_subscriber("weekly", Subscriber(email=email))
    token = make_token(settings, "weekly", email)
    body, tag = token.split(".")
    forgeries = [
        token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"),
        token + "==",  # padding appended to a valid token
        f"{body}==.{tag}",
        token.replace("-", "+").replace("_", "/"),  # the standard base64 alphabet
    ]
    for forged in forgeries:
        for method in (client.get, client.post):
            r = method(f"/u/{forged}")
            # refused as invalid, or (a "/" from the standard alphabet) no such page at all
            assert (r.status_code, b"not valid" in r.data) in ((400, True), (404, False)), forged
    assert store.get_subscriber("weekly", email).status == "active"
    assert client.get(f"/u/{token}").status_code == 200  # the real one still works


def test_every_page_carries_security_headers(client, alice):
    r = client.get(f"/u/{alice}")
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["Referrer-Policy"] == "no-referrer"


def test_preferences_save_a_choice_and_refuse_none(client, store, alice, topics):
    page = client.get(f"/p/{alice}")
    assert page.data.count(b" checked") == 4  # climate, markets, space, more news
    r = client.post(f"/p/{alice}", data={"topic-space": "1", "topic-more": "1"})
    assert b"Saved" in r.data
    assert store.get_subscriber("weekly", "alice@example.com").topics == ["more", "space"]
    r = client.post(f"/p/{alice}", data={})
    assert b"Choose at least one topic" in r.data
    assert store.get_subscriber("weekly", "alice@example.com").topics == ["more", "space"]


def test_preview_is_the_email_as_sent_with_links_that_work_for_no_reader(editor, client, store, settings,
                                                                       weekly, topics):
    seeded = seed_week(store, ["space", "climate"])
    r = editor.get("/lists/weekly/preview")
    html = r.data.decode()
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert all(a.title in html for a in seeded)
    preview = preview_token(settings, "weekly")
    assert f'href="https://digest.example/u/{preview}"' in html
    assert not re.search(r"-(t|gh|gt)[0-9a-f]{24}-", html)  # every placeholder filled
    text = editor.get("/lists/weekly/preview?format=text").data.decode()
    assert "\nSpace\n-----\n" in text and f"https://digest.example/p/{preview}" in text
    followed = client.get(f"/u/{preview}")  # an editor clicks a link in the preview
    assert followed.status_code == 200 and b"comes from a preview" in followed.data
    assert client.post(f"/u/{preview}").status_code == 200


def test_preview_for_a_reader_shows_their_email_but_never_their_links(editor, store, settings, weekly, topics):
    seed_week(store, ["space", "climate"])
    store.add_subscriber("weekly", Subscriber(email="bob@example.com", name="Bob", topics=["space"]))
    html = editor.get("/lists/weekly/preview?email=Bob@Example.com").data.decode()
    assert "Space story number 0" in html and "Climate story" not in html  # Bob's choice
    assert "Hello Bob, here is your week." in html
    assert make_token(settings, "weekly", "bob@example.com") not in html  # Bob's working token
    assert preview_token(settings, "weekly") in html
    html = editor.get("/lists/weekly/preview?email=bob@example.com&topics=climate").data.decode()
    assert "Climate story number 0" in html and "Space story" not in html
    assert editor.get("/lists/weekly/preview?email=nobody@example.com").status_code == 404
    assert editor.get("/lists/weekly/preview?email=not-an-address").status_code == 400


def test_strangers_get_no_editor_page(client, store, settings, weekly, topics):
    seed_week(store, ["space"])
    store.add_subscriber("weekly", Subscriber(email="bob@example.com", name="Bob"))
    bob = make_token(settings, "weekly", "bob@example.com")
    guess = {"Authorization": "Basic " + base64.b64encode(b"editor:a long editor password").decode()}
    for url in ("/lists", "/lists/weekly/preview", "/lists/weekly/preview?email=bob@example.com"):
        for headers in ({}, guess):
            r = client.get(url, headers=headers)
            assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")
            assert bob not in r.data.decode() and b"Bob" not in r.data


def test_the_web_process_refuses_to_start_without_a_real_secret_key(settings):
    with pytest.raises(SystemExit, match="SECRET_KEY is not set"):  # one line naming it, no traceback
        create_app(settings.model_copy(update={"secret_key": None}))
    from digest.config import load_settings

    for public in ("change-me-in-production", "short"):
        with pytest.raises(ConfigError, match="SECRET_KEY"):
            load_settings(secret_key=public)


def test_preview_says_why_there_is_nothing_to_show(editor, store, weekly, topics):
    empty = editor.get("/lists/weekly/preview")
    assert empty.status_code == 404 and b"no articles yet" in empty.data
    seed_week(store, ["space"], unmatched=0)
    r = editor.get("/lists/weekly/preview?topics=markets")
    assert r.status_code == 404 and b"none of the topics markets has articles" in r.data
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]


def test_preview_of_an_unknown_list_is_404(editor, store):
    r = editor.get("/lists/nolist/preview")
    assert r.status_code == 404 and b"unknown list" in r.data


def test_lists_index_links_to_the_review_page_and_it_answers(editor, weekly):
    assert b'href="/lists/weekly/review"' in editor.get("/lists").data
    assert editor.get("/lists/weekly/review").status_code == 200


def test_healthz_pings_redis_and_tells_strangers_no_more(client, settings):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json == {"status": "ok", "redis": "ok"}
    down = create_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})).test_client()
    r = down.get("/healthz")
    assert r.status_code == 503 and r.json == {"status": "error", "redis": "unavailable"}
    assert "127.0.0.1" not in r.data.decode() and "6379" not in r.data.decode()


def test_https_sites_send_hsts(client, alice):
    assert client.get(f"/u/{alice}").headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_a_token_for_a_removed_reader_is_404(client, store, settings, weekly):
    r = client.get(f"/u/{make_token(settings, 'weekly', 'gone@example.com')}")
    assert r.status_code == 404 and b"not subscribed" in r.data
    assert client.post(f"/u/{make_token(settings, 'weekly', 'gone@example.com')}").status_code == 404
    assert client.get(f"/p/{make_token(settings, 'nolist', 'gone@example.com')}").status_code == 404


def test_preferences_of_an_unsubscribed_reader_change_nothing(client, store, alice, topics):
    store.unsubscribe("weekly", "alice@example.com")
    page = client.get(f"/p/{alice}")
    assert b"not subscribed" in page.data and b"<form" not in page.data
    client.post(f"/p/{alice}", data={"topic-space": "1"})
    sub = store.get_subscriber("weekly", "alice@example.com")
    assert sub.status == "unsubscribed" and sub.topics is None


def test_spanish_lists_speak_spanish(client, store, settings):
    from digest.models import DigestList

    store.add_list(DigestList(slug="semanal", name="El Planeta", from_email="n@p.example", locale="es"))
    store.add_subscriber("semanal", Subscriber(email="carla@example.com"))
    token = make_token(settings, "semanal", "carla@example.com")
    assert "¿Dejar de enviar este boletín" in client.get(f"/u/{token}").data.decode()
    assert "Te has dado de baja" in client.post(f"/u/{token}").data.decode()
    gone = make_token(settings, "semanal", "nadie@example.com")
    assert "no está suscrito" in client.get(f"/p/{gone}").data.decode()
