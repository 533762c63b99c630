"""The web process on a real store: preview, unsubscribe (GET asks, POST acts), preferences."""

from __future__ import annotations

import pytest

from digest.links import SAMPLE_READER, make_token
from digest.models import Subscriber
from digest.render import GREETING, READER_TOKEN
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


def test_preview_shows_the_sample_readers_email_with_real_links(client, store, settings, weekly, topics):
    seeded = seed_week(store, ["space", "climate"])
    r = client.get("/lists/weekly/preview")
    html = r.data.decode()
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert all(a.title in html for a in seeded)
    assert f'href="https://digest.example/u/{make_token(settings, "weekly", SAMPLE_READER)}"' in html
    assert READER_TOKEN not in html and GREETING not in html
    text = client.get("/lists/weekly/preview?format=text")
    assert text.mimetype == "text/plain" and "== Space ==" in text.data.decode()
    assert f"https://digest.example/p/{make_token(settings, 'weekly', SAMPLE_READER)}" in text.data.decode()


def test_preview_for_a_reader_is_their_email(client, store, settings, weekly, topics):
    seed_week(store, ["space", "climate"])
    store.add_subscriber("weekly", Subscriber(email="bob@example.com", name="Bob", topics=["space"]))
    html = client.get("/lists/weekly/preview?email=Bob@Example.com").data.decode()
    assert "Space story number 0" in html and "Climate story" not in html  # Bob's choice
    assert "Hello Bob, here is your week." in html
    bob = make_token(settings, "weekly", "bob@example.com")  # the normalized address, as the sender signs
    assert f"https://digest.example/u/{bob}" in html
    html = client.get("/lists/weekly/preview?email=bob@example.com&topics=climate").data.decode()
    assert "Climate story number 0" in html and "Space story" not in html
    assert client.get("/lists/weekly/preview?email=nobody@example.com").status_code == 404
    assert client.get("/lists/weekly/preview?email=not-an-address").status_code == 400


def test_preview_says_why_there_is_nothing_to_show(client, store, weekly, topics):
    empty = client.get("/lists/weekly/preview")
    assert empty.status_code == 404 and b"no articles yet" in empty.data
    seed_week(store, ["space"], unmatched=0)
    r = client.get("/lists/weekly/preview?topics=markets")
    assert r.status_code == 404 and b"none of the topics markets has articles" in r.data
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]


def test_preview_of_an_unknown_list_is_404(client, store):
    r = client.get("/lists/nolist/preview")
    assert r.status_code == 404 and b"unknown list" in r.data


def test_lists_index_links_to_previews(client, weekly):
    assert b'href="/lists/weekly/preview"' in client.get("/lists").data


def test_healthz_pings_redis(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json == {"status": "ok", "redis": "ok"}


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
