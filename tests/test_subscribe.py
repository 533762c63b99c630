"""Double opt-in and the preferences page, on a real Redis and the real web app.

The confirmation emails go through the real outbox (tests read the .eml files);
`Outbox` below only counts what it hands over, as a send through any Sender would.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from digest.confirm import confirm, send_confirmations
from digest.deliver.base import Envelope
from digest.deliver.outbox import OutboxSender
from digest.errors import InvalidInput
from digest.links import ExpiredLink, make_confirm_token, make_token, preview_token, read_confirm_token
from digest.models import DigestList, Subscriber
from digest.pauses import pause, resume_due_pauses
from digest.subscribe import request_subscription
from digest.web import create_app

NEUTRAL = b"Almost done. If this address is not subscribed yet"


class Outbox(OutboxSender):
    """The file outbox, counting the envelopes it writes."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.envelopes: list[Envelope] = []

    def send(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)
        super().send(envelope)

    def mailed(self) -> list[str]:
        return [r.email for e in self.envelopes for r in e.recipients]


@pytest.fixture
def outbox(settings) -> Outbox:
    return Outbox(settings.outbox_dir)


class SettledClient(FlaskClient):
    """A test client whose requests return once the work their answer did not wait for is done."""

    def open(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        response = super().open(*args, **kwargs)
        if (work := self.application.extensions.get("digest.background")) is not None:
            work.join()
        return response


def make_client(settings, outbox, **overrides):  # type: ignore[no-untyped-def]
    app = create_app(settings.model_copy(update=overrides))
    app.testing = True
    app.extensions["digest.sender"] = outbox
    app.test_client_class = SettledClient
    return app.test_client()


@pytest.fixture
def client(settings, outbox):  # type: ignore[no-untyped-def]
    return make_client(settings, outbox, subscribe_per_ip_per_hour=1000)


def eml(settings, email: str):  # type: ignore[no-untyped-def]
    path = settings.outbox_dir / "mail" / f"{email}.eml"
    return message_from_bytes(path.read_bytes(), policy=policy.default)


def confirm_token_in(settings, email: str) -> str:
    text = eml(settings, email).get_body(("plain",)).get_content()
    return re.search(r"https://digest\.example/c/([A-Za-z0-9_.-]+)", text).group(1)


def post_form(client, email: str, ip: str = "203.0.113.7", **fields):  # type: ignore[no-untyped-def]
    data = {"email": email, "name": "", "topics": ["climate", "markets", "space", "more"], "website": "", **fields}
    return client.post("/s/weekly", data=data, environ_base={"REMOTE_ADDR": ip})


# -- the form and the JSON endpoint ---------------------------------------------

def test_the_form_speaks_the_list_language_and_hides_its_honeypot(client, store, weekly):
    page = client.get("/s/weekly").data.decode()
    assert '<html lang="en">' in page
    assert '<label for="email">Email address</label>' in page and 'type="email" id="email"' in page
    assert page.count('type="checkbox" name="topics"') == 4 and page.count(" checked") == 4
    trap = re.search(r'<div class="hp" aria-hidden="true">.*?</div>', page).group(0)
    assert 'name="website"' in trap and 'tabindex="-1"' in trap
    assert "<script" not in page
    store.add_list(DigestList(slug="semanal", name="El Planeta", from_email="n@p.example", locale="es"))
    spanish = client.get("/s/semanal").data.decode()
    assert '<html lang="es">' in spanish and "Correo electrónico" in spanish and "Suscribirse" in spanish
    assert client.get("/s/nolist").status_code == 404


def test_a_form_request_makes_a_pending_subscriber_with_evidence_and_mails_one_link(client, store, settings,
                                                                                   outbox, weekly):
    before = datetime.now(timezone.utc)
    r = post_form(client, "Carol@Example.com", name="Carol", topics=["space"])
    assert r.status_code == 200 and NEUTRAL in r.data
    sub = store.get_subscriber("weekly", "carol@example.com")
    assert (sub.status, sub.name, sub.topics, sub.source, sub.ip) == ("pending", "Carol", ["space"], "form",
                                                                      "203.0.113.7")
    assert sub.created_at >= before.replace(microsecond=0) and sub.confirmed_at is None
    assert store.subscriber_count("weekly") == 0  # pending gets no issue
    assert outbox.mailed() == ["carol@example.com"]
    message = eml(settings, "carol@example.com")
    assert message["Subject"] == "Confirm your subscription to The Weekly Planet"
    assert message["From"] == "The Weekly Planet <news@planet.example>" and "List-Unsubscribe" not in message
    html = message.get_body(("html",)).get_content()
    token = confirm_token_in(settings, "carol@example.com")
    assert f'href="https://digest.example/c/{token}"' in html and '<html lang="en"' in html
    link = read_confirm_token(settings, token)
    assert (link.list_slug, link.email) == ("weekly", "carol@example.com")
    assert timedelta(days=6.9) < link.expires - before < timedelta(days=7.1)  # CONFIRM_TOKEN_DAYS


def test_the_confirmation_never_carries_the_askers_words(client, store, settings, outbox, weekly):
    """A stranger's "name" must not ride in an email to someone else's mailbox (form spam)."""
    post_form(client, "victim@example.com", name="Cheap pills at spam.example")
    raw = (settings.outbox_dir / "mail" / "victim@example.com.eml").read_bytes().decode()
    assert "spam.example" not in raw and "pills" not in raw


@pytest.mark.parametrize("endpoint", ["form", "api"])
def test_the_answer_is_the_same_whoever_the_address_belongs_to(client, store, outbox, weekly, endpoint):
    store.add_subscribers("weekly", [Subscriber(email="active@example.com"),
                                     Subscriber(email="pending@example.com", status="pending"),
                                     Subscriber(email="gone@example.com", status="unsubscribed"),
                                     Subscriber(email="bounced@example.com", status="bounced"),
                                     Subscriber(email="complained@example.com", status="complained")])
    store.suppress("blocked@example.com", "spamreport")

    def ask(email: str):  # type: ignore[no-untyped-def]
        if endpoint == "form":
            return post_form(client, email)
        return client.post("/api/lists/weekly/subscribe", json={"email": email})

    answers = {e: ask(e) for e in ("new@example.com", "active@example.com", "pending@example.com",
                                   "gone@example.com", "bounced@example.com", "complained@example.com",
                                   "blocked@example.com")}
    shapes = {(r.status_code, r.data, r.headers.get("Content-Type")) for r in answers.values()}
    assert len(shapes) == 1, shapes
    assert answers["new@example.com"].status_code == (200 if endpoint == "form" else 202)
    if endpoint == "api":
        assert answers["new@example.com"].json == {"status": "check your inbox"}
    assert sorted(outbox.mailed()) == ["gone@example.com", "new@example.com", "pending@example.com"]
    assert store.get_subscriber("weekly", "gone@example.com").status == "unsubscribed"  # until they confirm
    assert store.get_subscriber("weekly", "active@example.com").status == "active"
    assert [s.email for s in store.subscribers("weekly") if s.email == "blocked@example.com"] == []


def test_the_answer_does_not_wait_for_the_mail(settings, store, weekly, outbox):
    """A SendGrid round trip for new addresses and none for subscribed ones would tell them apart by time."""
    release = threading.Event()

    class SlowSender(Outbox):
        def send(self, envelope: Envelope) -> None:
            assert release.wait(10)
            super().send(envelope)

    app = create_app(settings)
    app.extensions["digest.sender"] = slow = SlowSender(settings.outbox_dir)
    client = app.test_client()  # a plain client: it does not wait for the background
    started = time.monotonic()
    r = client.post("/api/lists/weekly/subscribe", json={"email": "una@example.com"})
    assert r.status_code == 202 and time.monotonic() - started < 5
    assert slow.mailed() == []  # still being sent
    release.set()
    app.extensions["digest.background"].join()
    assert slow.mailed() == ["una@example.com"]


def test_a_filled_honeypot_gets_the_same_answer_and_nothing_happens(client, store, outbox, weekly):
    human = post_form(client, "human@example.com")
    bot = post_form(client, "bot@example.com", website="https://spam.example")
    assert (bot.status_code, bot.data) == (human.status_code, human.data)
    api = client.post("/api/lists/weekly/subscribe", json={"email": "bot2@example.com", "website": "x"})
    assert api.status_code == 202 and api.json == {"status": "check your inbox"}
    assert outbox.mailed() == ["human@example.com"]
    assert {s.email for s in store.subscribers("weekly")} == {"human@example.com"}


@pytest.mark.parametrize("body, field", [
    ({"email": "not-an-address"}, "email"),
    ({"email": ""}, "email"),
    ({"name": "No Address"}, "email"),
    ({"email": ["a@example.com"]}, "email"),
    ({"email": "a@example.com", "name": "x" * 201}, "name"),
    ({"email": "a@example.com", "name": 42}, "name"),
    ({"email": "a@example.com", "topics": ["space", "gardening"]}, "topics"),
    ({"email": "a@example.com", "topics": "space"}, "topics"),
    ({"email": "a@example.com", "topics": {"space": 1}}, "topics"),
    ({"email": "a@example.com", "topics": []}, "topics"),
    ({"email": "a@example.com", "locale": "xx"}, "locale"),
    ({"email": "a@example.com", "admin": True}, "admin"),
])
def test_the_json_endpoint_names_the_bad_field(client, store, outbox, weekly, body, field):
    r = client.post("/api/lists/weekly/subscribe", json=body)
    assert r.status_code == 400 and r.json["field"] == field, r.json
    assert field in r.json["error"]
    assert outbox.mailed() == [] and list(store.subscribers("weekly")) == []


def test_the_json_endpoint_refuses_what_is_not_a_json_object(client, store, outbox, weekly):
    bad = client.post("/api/lists/weekly/subscribe", data="{not json", content_type="application/json")
    assert bad.status_code == 400 and "not a JSON object" in bad.json["error"]
    assert client.post("/api/lists/weekly/subscribe", json=["a@example.com"]).status_code == 400
    plain = client.post("/api/lists/weekly/subscribe", data="email=a@example.com",
                        content_type="application/x-www-form-urlencoded")
    assert plain.status_code == 415 and "application/json" in plain.json["error"]
    unknown = client.post("/api/lists/nolist/subscribe", json={"email": "a@example.com"})
    assert unknown.status_code == 404 and unknown.json["error"] == "unknown list: 'nolist'"
    assert outbox.mailed() == []


def test_a_bad_form_is_shown_again_with_the_error_and_nothing_happens(client, store, outbox, weekly):
    r = post_form(client, "not-an-address", name="Dora")
    page = r.data.decode()
    assert r.status_code == 400 and 'role="alert"' in page and "Enter a valid email address." in page
    assert 'aria-invalid="true"' in page and 'value="Dora"' in page
    r = post_form(client, "dora@example.com", topics=[])
    assert r.status_code == 400 and b"Choose at least one topic." in r.data
    assert outbox.mailed() == [] and list(store.subscribers("weekly")) == []


def test_cross_site_posts_are_refused_and_our_own_pages_accepted(client, store, outbox, weekly):
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Origin": "null", "Sec-Fetch-Site": "cross-site"},  # a sandboxed frame elsewhere
                    {"Origin": "https://www.digest.example", "Sec-Fetch-Site": "same-site"}):
        r = client.post("/s/weekly", data={"email": "eve@example.com", "topics": ["space"]}, headers=headers)
        assert r.status_code == 403, headers
        r = client.post("/api/lists/weekly/subscribe", json={"email": "eve@example.com"}, headers=headers)
        assert r.status_code == 403, headers
    assert outbox.mailed() == [] and list(store.subscribers("weekly")) == []
    # BASE_URL, the host the page came from, and what Chromium sends under Referrer-Policy: no-referrer
    for origin in ("https://digest.example", "http://localhost", "null"):
        r = client.post("/s/weekly", data={"email": "fay@example.com", "topics": ["space"]},
                        headers={"Origin": origin, "Sec-Fetch-Site": "same-origin"})
        assert r.status_code == 200 and NEUTRAL in r.data
    assert store.get_subscriber("weekly", "fay@example.com").status == "pending"


# -- rate limits -------------------------------------------------------------

def test_one_client_is_limited_per_hour_with_a_429(settings, store, outbox, weekly):
    client = make_client(settings, outbox, subscribe_per_ip_per_hour=3)
    ok = [client.post("/api/lists/weekly/subscribe", json={"email": f"r{i}@example.com"},
                      environ_base={"REMOTE_ADDR": "198.51.100.5"}) for i in range(3)]
    assert [r.status_code for r in ok] == [202, 202, 202]
    over = client.post("/api/lists/weekly/subscribe", json={"email": "r9@example.com"},
                       environ_base={"REMOTE_ADDR": "198.51.100.5"})
    assert over.status_code == 429 and 0 < int(over.headers["Retry-After"]) <= 3600
    form = post_form(client, "r10@example.com", ip="198.51.100.5")
    assert form.status_code == 429 and b"Too many requests" in form.data
    bot = post_form(client, "r11@example.com", ip="198.51.100.5", website="x")  # bots count too
    assert bot.status_code == 429
    # X-Forwarded-For is anyone's to write: without TRUSTED_PROXIES it changes nothing
    spoofed = client.post("/api/lists/weekly/subscribe", json={"email": "r12@example.com"},
                          environ_base={"REMOTE_ADDR": "198.51.100.5"}, headers={"X-Forwarded-For": "192.0.2.1"})
    assert spoofed.status_code == 429
    other = client.post("/api/lists/weekly/subscribe", json={"email": "r13@example.com"},
                        environ_base={"REMOTE_ADDR": "198.51.100.6"})
    assert other.status_code == 202
    assert sorted(outbox.mailed()) == sorted(["r0@example.com", "r1@example.com", "r2@example.com", "r13@example.com"])


def test_an_ipv6_client_is_counted_by_its_network(settings, store, outbox, weekly):
    client = make_client(settings, outbox, subscribe_per_ip_per_hour=2)
    hosts = ["2001:db8:1:2::10", "2001:db8:1:2:ffff::1", "2001:db8:1:2::99", "2001:db8:1:3::10"]
    codes = [client.post("/api/lists/weekly/subscribe", json={"email": f"v{i}@example.com"},
                         environ_base={"REMOTE_ADDR": ip}).status_code for i, ip in enumerate(hosts)]
    assert codes == [202, 202, 429, 202]  # one /64 shares a quota; the next /64 has its own
    assert store.get_subscriber("weekly", "v1@example.com").ip == "2001:db8:1:2:ffff::1"  # evidence: the host


def test_behind_trusted_proxies_the_forwarded_client_is_counted_and_recorded(settings, store, outbox, weekly):
    client = make_client(settings, outbox, trusted_proxies=1, subscribe_per_ip_per_hour=1)
    hop = {"environ_base": {"REMOTE_ADDR": "10.0.0.2"}}
    r = client.post("/api/lists/weekly/subscribe", json={"email": "gil@example.com"},
                    headers={"X-Forwarded-For": "192.0.2.66, 203.0.113.20"}, **hop)
    assert r.status_code == 202
    assert store.get_subscriber("weekly", "gil@example.com").ip == "203.0.113.20"  # what our proxy saw
    again = client.post("/api/lists/weekly/subscribe", json={"email": "hal@example.com"},
                        headers={"X-Forwarded-For": "192.0.2.99, 203.0.113.20"}, **hop)
    assert again.status_code == 429  # the client's own left part changes nothing
    other = client.post("/api/lists/weekly/subscribe", json={"email": "hal@example.com"},
                        headers={"X-Forwarded-For": "203.0.113.21"}, **hop)
    assert other.status_code == 202


def test_one_address_gets_few_confirmations_a_day_and_the_answer_never_says(settings, store, outbox, weekly):
    client = make_client(settings, outbox, subscribe_per_address_per_day=2, subscribe_per_ip_per_hour=100)
    answers = [client.post("/api/lists/weekly/subscribe", json={"email": "ivy@example.com"}) for _ in range(5)]
    assert {(r.status_code, r.data) for r in answers} == {(202, b'{"status":"check your inbox"}\n')}
    assert outbox.mailed() == ["ivy@example.com", "ivy@example.com"]
    # the two links are for one request, each with its own nonce (what it confirms): both work
    first, second = (next(iter(e.recipients[0].substitutions.values())) for e in outbox.envelopes)
    assert read_confirm_token(settings, first).nonce != read_confirm_token(settings, second).nonce
    assert [client.get(f"/c/{t}").status_code for t in (first, second)] == [200, 200]


def test_one_mailbox_gets_few_confirmations_a_day_however_its_address_is_spelt(settings, store, outbox, weekly):
    """name+tag@ reaches name@'s inbox, and Gmail ignores dots: spellings share the mailbox's limit."""
    client = make_client(settings, outbox, subscribe_per_address_per_day=2, subscribe_per_ip_per_hour=100)
    for i in range(6):
        assert client.post("/api/lists/weekly/subscribe", json={"email": f"ivy+{i}@example.com"}).status_code == 202
    for spelt in ("i.vy@gmail.com", "iv.y+x@googlemail.com", "I.V.Y@gmail.com", "ivy@gmail.com"):
        assert client.post("/api/lists/weekly/subscribe", json={"email": spelt}).status_code == 202
    client.post("/api/lists/weekly/subscribe", json={"email": "ivan@example.com"})
    mailed = outbox.mailed()
    assert len([a for a in mailed if a.startswith("ivy+")]) == 2
    assert len([a for a in mailed if a.endswith(("@gmail.com", "@googlemail.com"))]) == 2
    assert "ivan@example.com" in mailed  # another mailbox has its own limit


# -- confirming ----------------------------------------------------------------

def test_opening_the_link_asks_and_only_the_button_confirms(client, store, settings, outbox, weekly):
    post_form(client, "jo@example.com", name="Jo", topics=["space", "climate"])
    token = confirm_token_in(settings, "jo@example.com")
    page = client.get(f"/c/{token}")
    assert page.status_code == 200 and b'<button type="submit">Confirm my subscription' in page.data
    assert b"jo\xe2\x80\xa2@example.com" in page.data and b'id="name" name="name"' in page.data
    assert store.get_subscriber("weekly", "jo@example.com").status == "pending"
    done = client.post(f"/c/{token}")
    assert done.status_code == 200 and b"You are subscribed" in done.data
    sub = store.get_subscriber("weekly", "jo@example.com")
    assert (sub.status, sub.consent, sub.source, sub.ip) == ("active", "double-opt-in", "form", "203.0.113.7")
    assert sub.confirmed_at is not None and sorted(sub.topics) == ["climate", "space"]
    assert store.subscriber_count("weekly") == 1
    prefs = re.search(rb'href="/p/([^"]+)"', done.data).group(1).decode()
    assert prefs == make_token(settings, "weekly", "jo@example.com")
    again = client.post(f"/c/{token}")  # a second click (or a reload) is fine
    assert again.status_code == 200 and b"You are subscribed" in again.data


def test_an_unsubscribed_reader_comes_back_only_by_confirming(client, store, settings, outbox, weekly):
    store.add_subscriber("weekly", Subscriber(email="kim@example.com", name="Kim", topics=["markets"]))
    store.unsubscribe("weekly", "kim@example.com")
    post_form(client, "kim@example.com", name="Kim B", topics=["space"], ip="203.0.113.50")
    sub = store.get_subscriber("weekly", "kim@example.com")
    assert (sub.status, sub.name, sub.topics) == ("unsubscribed", "Kim", ["markets"])  # unchanged until confirmed
    assert client.post(f"/c/{confirm_token_in(settings, 'kim@example.com')}").status_code == 200
    sub = store.get_subscriber("weekly", "kim@example.com")
    assert (sub.status, sub.name, sub.topics, sub.ip, sub.consent) == ("active", "Kim B", ["space"],
                                                                       "203.0.113.50", "double-opt-in")


STRANGER = "198.51.100.66"


def test_a_strangers_later_request_does_not_change_what_the_readers_link_confirms(client, store, settings,
                                                                                  outbox, weekly):
    """Anyone may post the form for Amy's address: her own link confirms her own choices."""
    post_form(client, "amy@example.com", name="Amy", topics=["space"])
    hers = confirm_token_in(settings, "amy@example.com")
    post_form(client, "amy@example.com", ip=STRANGER, name="Mallory's friend", topics=["markets"])
    client.post("/api/lists/weekly/subscribe", json={"email": "amy@example.com", "name": "Mallory",
                                                     "topics": ["markets"], "locale": "de"},
                environ_base={"REMOTE_ADDR": STRANGER})
    sub = store.get_subscriber("weekly", "amy@example.com")
    assert (sub.status, sub.name, sub.topics, sub.locale, sub.ip) == ("pending", "Amy", ["space"], None,
                                                                      "203.0.113.7")
    page = client.get(f"/c/{hers}").data.decode()
    assert '<html lang="en">' in page and 'value="Amy"' in page and "Mallory" not in page
    assert page.count(" checked") == 1 and 'value="space" checked' in page
    assert client.post(f"/c/{hers}").status_code == 200
    sub = store.get_subscriber("weekly", "amy@example.com")
    assert (sub.status, sub.name, sub.topics, sub.locale, sub.ip) == ("active", "Amy", ["space"], None,
                                                                      "203.0.113.7")


def test_a_strangers_request_does_not_ride_on_an_unsubscribed_readers_link(client, store, settings, outbox,
                                                                          weekly):
    store.add_subscriber("weekly", Subscriber(email="kim@example.com", name="Kim", topics=["markets"]))
    store.unsubscribe("weekly", "kim@example.com")
    post_form(client, "kim@example.com", name="Kim B", topics=["space"], ip="203.0.113.50")
    hers = confirm_token_in(settings, "kim@example.com")
    post_form(client, "kim@example.com", name="Mallory", topics=["markets"], ip=STRANGER)
    theirs = confirm_token_in(settings, "kim@example.com")
    assert 'value="Mallory"' in client.get(f"/c/{theirs}").data.decode()  # the later link shows its own
    assert "Mallory" not in client.get(f"/c/{hers}").data.decode()
    assert client.post(f"/c/{hers}").status_code == 200
    sub = store.get_subscriber("weekly", "kim@example.com")
    assert (sub.status, sub.name, sub.topics, sub.ip) == ("active", "Kim B", ["space"], "203.0.113.50")
    assert b"You are subscribed" in client.post(f"/c/{theirs}").data  # closed: it changes nothing now
    assert store.get_subscriber("weekly", "kim@example.com") == sub


def test_the_page_shows_a_strangers_choices_escaped_and_stores_the_readers_own(client, store, settings, outbox,
                                                                              weekly):
    """With no request of hers, a stranger's name would greet Ann: the page shows it and she clears it."""
    client.post("/api/lists/weekly/subscribe", json={"email": "ann@example.com", "topics": ["markets"],
                "name": '<b>Win</b> "big" at spam.example', "locale": "fr"}, environ_base={"REMOTE_ADDR": STRANGER})
    token = confirm_token_in(settings, "ann@example.com")
    page = client.get(f"/c/{token}").data.decode()
    assert '<html lang="fr">' in page and "Nom dans la salutation (facultatif)" in page
    assert 'value="&lt;b&gt;Win&lt;/b&gt; &#34;big&#34; at spam.example"' in page
    assert "« Bonjour &lt;b&gt;Win&lt;/b&gt; &#34;big&#34; at spam.example, voici votre semaine. »" in page
    assert "<b>Win" not in page and page.count(" checked") == 1 and 'value="markets" checked' in page
    assert '<option value="fr" lang="fr" selected>' in page
    assert '<label for="name">' in page and 'aria-describedby="name-hint"' in page and "<script" not in page
    assert store.get_subscriber("weekly", "ann@example.com").status == "pending"
    form = {"review": "1", "name": "", "topics": ["space", "climate"], "locale": "en"}
    done = client.post(f"/c/{token}", data=form)
    assert done.status_code == 200 and b"You are subscribed" in done.data and b'<html lang="en">' in done.data
    sub = store.get_subscriber("weekly", "ann@example.com")
    assert (sub.status, sub.name, sorted(sub.topics), sub.locale) == ("active", "", ["climate", "space"], "en")


def test_a_bad_choice_on_the_page_is_shown_again_and_confirms_nothing(client, store, settings, outbox, weekly):
    post_form(client, "bea@example.com", name="Bea", topics=["space"])
    token = confirm_token_in(settings, "bea@example.com")
    r = client.post(f"/c/{token}", data={"review": "1", "name": "Beatrix", "locale": "en"})  # no topic
    page = r.data.decode()
    assert r.status_code == 400 and 'role="alert"' in page and "Choose at least one topic." in page
    assert 'value="Beatrix"' in page and " checked" not in page
    r = client.post(f"/c/{token}", data={"review": "1", "name": "x" * 201, "topics": ["space"]})
    assert r.status_code == 400 and 'aria-invalid="true"' in r.data.decode()
    sub = store.get_subscriber("weekly", "bea@example.com")
    assert (sub.status, sub.name) == ("pending", "Bea")
    assert client.post(f"/c/{token}", data={"review": "1", "name": "Beatrix", "topics": ["space"]}).status_code == 200
    assert store.get_subscriber("weekly", "bea@example.com").name == "Beatrix"


def test_a_cross_site_post_cannot_confirm_for_the_reader(client, store, settings, outbox, weekly):
    post_form(client, "cy@example.com", name="Cy")
    token = confirm_token_in(settings, "cy@example.com")
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        r = client.post(f"/c/{token}", data={"review": "1", "name": "Mallory", "topics": ["space"]},
                        headers=headers)
        assert r.status_code == 403
    assert store.get_subscriber("weekly", "cy@example.com").status == "pending"
    r = client.post(f"/c/{token}", data={"review": "1", "name": "Cy", "topics": ["space"]},
                    headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200 and store.get_subscriber("weekly", "cy@example.com").name == "Cy"


def test_each_link_keeps_its_own_choices_and_links_mailed_before_still_work(store, settings, weekly):
    import json

    from digest.store.optin import MAX_LINKS

    store.add_subscriber("weekly", Subscriber(email="dee@example.com", status="unsubscribed"))
    key = store._request_key("weekly", "dee@example.com")
    store.r.set(key, json.dumps({"nonce": "old", "choices": {"name": "Dee", "topics": ["space"]}}), ex=600)
    later = store.open_request("weekly", "dee@example.com", {"name": "Mallory", "topics": None}, 600)
    assert store.link_choices("weekly", "dee@example.com", "old") == (True, {"name": "Dee", "topics": ["space"]})
    assert store.link_choices("weekly", "dee@example.com", later) == (True, {"name": "Mallory", "topics": None})
    old = make_confirm_token(settings, "weekly", "dee@example.com", datetime.now(timezone.utc) + timedelta(1), "old")
    done = confirm(store, settings, old)
    assert (done.subscriber.status, done.subscriber.name, done.subscriber.topics) == ("active", "Dee", ["space"])
    assert store.link_choices("weekly", "dee@example.com", later) == (False, None)  # confirming closed them all
    nonces = [store.open_request("weekly", "eve@example.com", None, 600) for _ in range(MAX_LINKS + 1)]
    assert [store.link_choices("weekly", "eve@example.com", n)[0] for n in (nonces[0], nonces[1], nonces[-1])] == \
        [False, True, True]  # the newest MAX_LINKS links


def test_a_used_link_does_not_bring_back_someone_who_left(client, store, settings, outbox, weekly):
    post_form(client, "lea@example.com")
    token = confirm_token_in(settings, "lea@example.com")
    assert client.post(f"/c/{token}").status_code == 200
    store.unsubscribe("weekly", "lea@example.com")
    r = client.post(f"/c/{token}")
    assert r.status_code == 400 and b"cannot be used any more" in r.data and b'href="/s/weekly"' in r.data
    assert store.get_subscriber("weekly", "lea@example.com").status == "unsubscribed"


def test_a_topic_the_list_dropped_before_the_click_is_dropped_from_the_choice(client, store, settings, outbox,
                                                                             weekly, topics):
    post_form(client, "ada@example.com", topics=["space", "markets"])
    store.add_list(weekly.model_copy(update={"topics": [t for t in topics if t.slug != "markets"]}))
    assert client.post(f"/c/{confirm_token_in(settings, 'ada@example.com')}").status_code == 200
    sub = store.get_subscriber("weekly", "ada@example.com")
    assert (sub.status, sub.topics) == ("active", ["space"])


def test_expired_links_say_so_and_change_nothing(client, store, settings, outbox, weekly):
    post_form(client, "max@example.com")
    token = confirm_token_in(settings, "max@example.com")
    with pytest.raises(ExpiredLink, match="expired"):
        confirm(store, settings, token, now=datetime.now(timezone.utc) + timedelta(days=7, seconds=1))
    nonce = read_confirm_token(settings, token).nonce
    stale = make_confirm_token(settings, "weekly", "max@example.com", datetime.now(timezone.utc) - timedelta(1), nonce)
    for method in (client.get, client.post):
        r = method(f"/c/{stale}")
        assert r.status_code == 400 and b"This confirmation link has expired." in r.data
        assert b'href="/s/weekly"' in r.data
    assert store.get_subscriber("weekly", "max@example.com").status == "pending"
    short = make_client(settings, outbox, confirm_token_days=1.0)
    short.post("/api/lists/weekly/subscribe", json={"email": "ned@example.com"})
    expires = read_confirm_token(settings, confirm_token_in(settings, "ned@example.com")).expires
    assert timedelta(hours=23) < expires - datetime.now(timezone.utc) < timedelta(hours=25)


def test_forged_confirm_links_are_refused(client, store, settings, outbox, weekly):
    post_form(client, "oli@example.com")
    store.add_subscriber("weekly", Subscriber(email="pat@example.com", status="pending"))
    token = confirm_token_in(settings, "oli@example.com")
    body, tag = token.split(".")
    payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    swapped = base64.urlsafe_b64encode(payload.replace(b"oli@", b"pat@")).rstrip(b"=").decode()
    later = payload.split(b"\n")
    later[2] = str(int(later[2]) + 86400 * 365).encode()
    extended = base64.urlsafe_b64encode(b"\n".join(later)).rstrip(b"=").decode()
    forgeries = [
        f"{swapped}.{tag}",  # another person, the old tag
        f"{extended}.{tag}",  # a later expiry
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        make_token(settings, "weekly", "oli@example.com"),  # their preferences token is no confirm token
        preview_token(settings, "weekly"),
        "not-a-token",
    ]
    for forged in forgeries:
        for method in (client.get, client.post):
            r = method(f"/c/{forged}")
            assert r.status_code == 400 and b"not valid" in r.data, forged
        with pytest.raises(InvalidInput, match="not valid"):
            confirm(store, settings, forged)
    assert store.get_subscriber("weekly", "oli@example.com").status == "pending"
    assert store.get_subscriber("weekly", "pat@example.com").status == "pending"
    assert client.get(f"/p/{token}").status_code == 400  # nor the other way round


# -- suppression is final ------------------------------------------------------

def test_a_suppressed_address_is_never_mailed_nor_activated(store, settings, outbox, weekly):
    store.suppress("quinn@example.com", "bounce")
    request_subscription(store, settings, outbox, "weekly", "quinn@example.com")
    assert outbox.mailed() == []
    # pending before it was suppressed: no confirmation from an editor's run, and an old link activates nothing
    request_subscription(store, settings, outbox, "weekly", "ray@example.com")
    token = next(iter(outbox.envelopes[0].recipients[0].substitutions.values()))
    store.suppress("ray@example.com", "spamreport")
    assert send_confirmations(store, settings, outbox, "weekly", ["ray@example.com", "quinn@example.com"]) == 0
    with pytest.raises(InvalidInput, match="cannot be subscribed"):
        confirm(store, settings, token)
    assert store.get_subscriber("weekly", "ray@example.com").status != "active"
    assert store.subscriber_count("weekly") == 0
    assert outbox.mailed() == ["ray@example.com"]  # only the first confirmation, before the suppression


def test_an_editor_mails_confirmations_to_pending_people_only(store, settings, outbox, weekly):
    store.add_subscribers("weekly", [
        Subscriber(email="sam@example.com", status="pending", source="import"),
        Subscriber(email="tea@example.com", status="pending", source="import", locale="de"),
        Subscriber(email="uma@example.com", status="pending"),
        Subscriber(email="vic@example.com"),  # active
        Subscriber(email="wes@example.com", status="unsubscribed"),
    ])
    store.suppress("uma@example.com", "bounce")
    sent = send_confirmations(store, settings, outbox, "weekly", [
        "sam@example.com", "SAM@example.com", "tea@example.com", "uma@example.com", "vic@example.com",
        "wes@example.com", "nobody@example.com", "not an address"])
    assert sent == 2 and sorted(outbox.mailed()) == ["sam@example.com", "tea@example.com"]
    assert eml(settings, "tea@example.com")["Subject"] == "Bestätigen Sie Ihr Abonnement von The Weekly Planet"
    assert eml(settings, "sam@example.com")["Subject"] == "Confirm your subscription to The Weekly Planet"
    confirmed = confirm(store, settings, confirm_token_in(settings, "tea@example.com"))
    assert confirmed.subscriber.status == "active" and confirmed.subscriber.source == "import"


def test_confirmations_for_many_go_in_envelopes_of_at_most_1000(store, settings, outbox, weekly):
    people = [Subscriber(email=f"p{i}@example.com", status="pending") for i in range(1001)]
    store.add_subscribers("weekly", people)
    sent = send_confirmations(store, settings, outbox, "weekly", (p.email for p in [*people, people[0]]))
    assert sent == 1001 and [len(e.recipients) for e in outbox.envelopes] == [1000, 1]
    tokens = {r.email: next(iter(r.substitutions.values())) for e in outbox.envelopes for r in e.recipients}
    assert read_confirm_token(settings, tokens["p1000@example.com"]).email == "p1000@example.com"
    assert confirm_token_in(settings, "p999@example.com") == tokens["p999@example.com"]


def test_the_confirmation_speaks_the_chosen_language(client, store, settings, outbox, weekly):
    client.post("/api/lists/weekly/subscribe", json={"email": "xia@example.com", "locale": "fr"})
    message = eml(settings, "xia@example.com")
    assert message["Subject"] == "Confirmez votre abonnement à The Weekly Planet"
    assert '<html lang="fr"' in message.get_body(("html",)).get_content()
    token = confirm_token_in(settings, "xia@example.com")
    assert "Confirmer mon abonnement" in client.get(f"/c/{token}").data.decode()
    assert store.get_subscriber("weekly", "xia@example.com").locale == "fr"


# -- preferences ---------------------------------------------------------------

@pytest.fixture
def alice(store, settings, weekly):
    store.add_subscriber("weekly", Subscriber(email="alice@example.com", name="Alice"))
    return make_token(settings, "weekly", "alice@example.com")


@pytest.fixture
def bob(store, settings, weekly):
    store.add_subscriber("weekly", Subscriber(email="bob@example.com", name="Bob", topics=["space"]))
    return make_token(settings, "weekly", "bob@example.com")


def test_preferences_change_the_name_and_the_language(client, store, alice):
    page = client.get(f"/p/{alice}").data.decode()
    assert 'value="Alice"' in page and '<option value="en" lang="en" selected>English</option>' in page
    r = client.post(f"/p/{alice}", data={"name": "Alicia", "locale": "es", "topic-space": "1"})
    sub = store.get_subscriber("weekly", "alice@example.com")
    assert (sub.name, sub.locale, sub.topics) == ("Alicia", "es", ["space"])
    page = r.data.decode()
    assert '<html lang="es">' in page and "Guardado" in page  # the new language shows at once
    assert '<html lang="es">' in client.get(f"/u/{alice}").data.decode()
    r = client.post(f"/p/{alice}", data={"name": "x" * 201, "topic-space": "1"})
    assert r.status_code == 400 and store.get_subscriber("weekly", "alice@example.com").name == "Alicia"
    client.post(f"/p/{alice}", data={"locale": "xx", "topic-space": "1"})
    assert store.get_subscriber("weekly", "alice@example.com").locale == "es"


def test_a_reader_pauses_and_resumes(client, store, alice):
    r = client.post(f"/p/{alice}", data={"action": "pause", "weeks": "3"})
    assert r.status_code == 200 and b"Paused." in r.data and b"Resume now" in r.data
    sub = store.get_subscriber("weekly", "alice@example.com")
    assert sub.status == "paused" and store.subscriber_count("weekly") == 0
    assert timedelta(days=20.9) < sub.paused_until - datetime.now(timezone.utc) < timedelta(days=21.1)
    assert b"Unsubscribe</button>" in client.get(f"/u/{alice}").data  # a paused reader can still leave
    r = client.post(f"/p/{alice}", data={"action": "resume"})
    assert b"Welcome back" in r.data
    sub = store.get_subscriber("weekly", "alice@example.com")
    assert sub.status == "active" and sub.paused_until is None and store.subscriber_count("weekly") == 1
    for weeks in ("0", "13", "two", ""):
        r = client.post(f"/p/{alice}", data={"action": "pause", "weeks": weeks})
        assert r.status_code == 400 and b"1 to 12 weeks" in r.data
    assert store.get_subscriber("weekly", "alice@example.com").status == "active"


def test_due_pauses_end_and_the_record_decides(store, alice, bob):
    now = datetime.now(timezone.utc)
    store.add_subscriber("weekly", Subscriber(email="cy@example.com"))
    pause(store, "weekly", "alice@example.com", 1, now=now)
    pause(store, "weekly", "bob@example.com", 4, now=now)
    pause(store, "weekly", "cy@example.com", 1, now=now)
    store.unsubscribe("weekly", "cy@example.com")  # left while paused
    assert resume_due_pauses(store, "weekly", now + timedelta(days=6)) == 0
    assert resume_due_pauses(store, "weekly", now + timedelta(days=8)) == 1
    assert [store.get_subscriber("weekly", e).status for e in ("alice@example.com", "bob@example.com",
                                                               "cy@example.com")] == ["active", "paused",
                                                                                       "unsubscribed"]
    pause(store, "weekly", "bob@example.com", 8, now=now)  # extended
    assert resume_due_pauses(store, "weekly", now + timedelta(days=30)) == 0
    assert resume_due_pauses(store, "weekly", now + timedelta(days=57)) == 1
    assert store.subscriber_count("weekly") == 2
    with pytest.raises(InvalidInput, match="unsubscribed"):
        pause(store, "weekly", "cy@example.com", 2)


def test_a_token_acts_only_for_its_own_reader(client, store, settings, alice, bob):
    page = client.get(f"/p/{alice}").data.decode()
    assert "al•••@example.com" in page and "Bob" not in page and "bo•" not in page
    client.post(f"/p/{alice}", data={"name": "Mallory", "topic-climate": "1", "locale": "de"})
    client.post(f"/p/{alice}", data={"action": "pause", "weeks": "12"})
    bob_now = store.get_subscriber("weekly", "bob@example.com")
    assert (bob_now.name, bob_now.topics, bob_now.locale, bob_now.status) == ("Bob", ["space"], None, "active")
    body, tag = alice.split(".")
    payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).replace(b"alice@", b"bob@")
    tampered = base64.urlsafe_b64encode(payload).rstrip(b"=").decode() + "." + tag
    other_list = make_token(settings, "semanal", "bob@example.com")
    for token in (tampered, alice[:-1] + ("A" if alice[-1] != "A" else "B"), other_list):
        for method in (client.get, client.post):
            r = method(f"/p/{token}", data={"action": "pause", "weeks": "2", "name": "Mallory"})
            assert r.status_code in (400, 404) and b"Bob" not in r.data
    assert store.get_subscriber("weekly", "bob@example.com") == bob_now


def test_a_token_survives_the_readers_topics_and_the_lists_topics_changing(client, store, weekly, alice, topics):
    client.post(f"/p/{alice}", data={"topic-space": "1"})
    store.add_subscriber("weekly", store.get_subscriber("weekly", "alice@example.com").model_copy(
        update={"topics": ["markets"]}))
    from digest.models import Topic

    store.add_list(weekly.model_copy(update={"topics": [*topics, Topic(slug="health", name="Health")]}))
    page = client.get(f"/p/{alice}")
    assert page.status_code == 200 and b'name="topic-health"' in page.data
    assert page.data.count(b" checked") == 1  # markets
    r = client.post(f"/p/{alice}", data={"topic-health": "1", "topic-markets": "1"})
    assert b"Saved" in r.data
    assert store.get_subscriber("weekly", "alice@example.com").topics == ["health", "markets"]
