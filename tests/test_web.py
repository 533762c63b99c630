"""The web process on a real store: preview, unsubscribe (GET asks, POST acts), preferences."""

from __future__ import annotations

import pytest

from digest.links import make_token
from digest.models import Subscriber
from digest.web import create_app
from tests.factories import seed_week


@pytest.fixture
def client(settings, store):
    app = create_app(settings)
    app.testing = True
    return app.test_client()


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


def test_a_forged_token_changes_nothing(client, store, alice):
    forged = alice[:-3] + ("AAA" if not alice.endswith("AAA") else "BBB")
    for method in (client.get, client.post):
        r = method(f"/u/{forged}")
        assert r.status_code == 400 and b"not valid" in r.data
    assert store.get_subscriber("weekly", "alice@example.com").status == "active"


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


def test_preview_is_the_issue_as_sent_with_real_links(client, store, settings, weekly, topics):
    seed_week(store, ["space", "climate"])
    store.add_subscriber("weekly", Subscriber(email="bob@example.com", name="Bob", topics=["space"]))
    r = client.get("/lists/weekly/preview?email=bob@example.com&topics=space")
    html = r.data.decode()
    assert r.status_code == 200 and "Space story number 0" in html and "Climate story" not in html
    assert "Hello Bob, here is your week." in html
    assert f"https://digest.example/u/{make_token(settings, 'weekly', 'bob@example.com')}" in html
    assert "-reader_token-" not in html
    text = client.get("/lists/weekly/preview?format=text")
    assert text.mimetype == "text/plain" and "== Space ==" in text.data.decode()


def test_preview_of_an_unknown_list_is_404(client, store):
    r = client.get("/lists/nolist/preview")
    assert r.status_code == 404 and b"unknown list" in r.data


def test_spanish_lists_speak_spanish(client, store, settings):
    from digest.models import DigestList

    store.add_list(DigestList(slug="semanal", name="El Planeta", from_email="n@p.example", locale="es"))
    store.add_subscriber("semanal", Subscriber(email="carla@example.com"))
    token = make_token(settings, "semanal", "carla@example.com")
    assert "¿Dejar de enviar este boletín" in client.get(f"/u/{token}").data.decode()
    assert "Te has dado de baja" in client.post(f"/u/{token}").data.decode()
