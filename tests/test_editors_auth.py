"""The editors' app: accounts, sign-in and out, sessions, CSRF, rate limits and who sees which list."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time

import pytest
from flask import Blueprint

from digest import audit
from digest.editors.accounts import authenticate, create_account, remove_account, revoke, set_disabled, set_password
from digest.errors import InvalidInput
from digest.links import make_confirm_token, make_token
from digest.models import DigestList, Subscriber
from digest.web import create_app
from digest.web.auth import editors_only
from tests.factories import seed_week

ADA = "ada@example.com"  # admin
ED = "ed@example.com"  # editor of weekly only
PASSWORD = "correct horse battery staple"
COOKIE = "__Host-digest-editor"  # BASE_URL is https in the tests


def make_app(settings):  # type: ignore[no-untyped-def]
    """The real app, plus one POST action behind the editors' rule, as the coming actions will be."""
    app = create_app(settings)
    probe = Blueprint("probe", __name__)
    editors_only(probe)

    @probe.post("/lists/<slug>/probe")
    def act(slug: str) -> str:
        audit.record(app.extensions["digest"].store, slug, "someone", "probe")
        return f"done for {slug}"

    app.register_blueprint(probe)
    app.testing = True
    return app


@pytest.fixture
def client(settings, store):
    return make_app(settings).test_client()


@pytest.fixture
def semanal(store):
    lst = DigestList(slug="semanal", name="El Planeta", from_email="n@planet.example", locale="es")
    store.add_list(lst)
    return lst


@pytest.fixture
def accounts(store, weekly, semanal):
    create_account(store, ADA, PASSWORD, role="admin")
    create_account(store, ED, PASSWORD, role="editor", lists=["weekly"])


def sign_in(client, email: str = ADA, password: str = PASSWORD, **form: str):  # type: ignore[no-untyped-def]
    return client.post("/login", data={"email": email, "password": password, **form})


def csrf_of(client) -> str:  # type: ignore[no-untyped-def]
    page = client.get("/lists").data.decode()
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def session_cookie(client) -> str | None:  # type: ignore[no-untyped-def]
    cookie = client.get_cookie(COOKIE)
    return cookie.value if cookie else None


# -- signing in and out ------------------------------------------------------------------


def test_sign_in_then_out_and_the_old_cookie_is_worth_nothing(client, store, accounts):
    r = client.get("/lists")
    assert r.status_code == 302 and r.headers["Location"] == "/login?next=/lists"
    r = sign_in(client)
    assert r.status_code == 303 and r.headers["Location"] == "/lists"
    set_cookie = r.headers["Set-Cookie"]
    assert set_cookie.startswith(COOKIE + "=") and "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    assert "Secure" in set_cookie and "Path=/" in set_cookie and "Domain" not in set_cookie
    old = session_cookie(client)
    page = client.get("/lists")
    assert page.status_code == 200 and b"The Weekly Planet" in page.data and b"El Planeta" in page.data
    r = client.post("/logout", data={"csrf": csrf_of(client)})
    assert r.status_code == 303 and session_cookie(client) is None
    assert client.get("/lists").status_code == 302
    client.set_cookie(COOKIE, old)  # the cookie replayed after sign-out
    assert client.get("/lists").status_code == 302
    assert client.get("/lists/weekly/preview").status_code == 302
    assert [e.action for e in audit.entries(store, None)] == ["sign-out", "sign-in"]


def test_wrong_password_and_unknown_user_get_the_same_answer_in_about_the_same_time(client, store, accounts):
    def attempt(email: str, password: str) -> tuple[int, str, float]:
        start = time.perf_counter()
        r = sign_in(client, email, password)
        took = time.perf_counter() - start
        return r.status_code, r.data.decode().replace(email, "EMAIL"), took

    wrong = [attempt(ADA, "not the password at all") for _ in range(3)]
    unknown = [attempt("nobody@example.com", "not the password at all") for _ in range(3)]
    assert wrong[0][:2] == unknown[0][:2]
    assert wrong[0][0] == 200 and "Wrong email address or password." in wrong[0][1]
    assert session_cookie(client) is None
    # without a real hash check for unknown addresses they would answer ~100 times faster
    assert min(u[2] for u in unknown) > 0.3 * min(w[2] for w in wrong)
    assert sign_in(client, "not an address", PASSWORD).status_code == 200


def test_a_disabled_account_cannot_sign_in_and_its_sessions_end(client, store, accounts):
    sign_in(client)
    assert client.get("/lists").status_code == 200
    set_disabled(store, ADA)
    assert client.get("/lists").status_code == 302  # signed out at once
    r = sign_in(client)
    assert r.status_code == 200 and b"Wrong email address or password." in r.data
    set_disabled(store, ADA, False)
    assert sign_in(client).status_code == 303


@pytest.mark.parametrize("change", ["remove", "passwd"])
def test_removing_an_account_or_a_new_password_ends_its_sessions(client, store, accounts, change):
    sign_in(client)
    assert client.get("/lists").status_code == 200
    remove_account(store, ADA) if change == "remove" else set_password(store, ADA, "another long password")
    assert client.get("/lists").status_code == 302
    if change == "passwd":
        assert sign_in(client).status_code == 200  # the old password
        assert sign_in(client, ADA, "another long password").status_code == 303


def test_each_sign_in_gets_a_new_session_id_and_the_previous_one_dies(client, store, accounts):
    client.set_cookie(COOKIE, "planted-by-an-attacker")
    sign_in(client)
    first = session_cookie(client)
    assert first != "planted-by-an-attacker"
    sign_in(client)
    second = session_cookie(client)
    assert second != first and client.get("/lists").status_code == 200
    client.set_cookie(COOKIE, first)
    assert client.get("/lists").status_code == 302


def test_after_sign_in_only_a_path_of_this_site_is_followed(client, accounts):
    assert sign_in(client, next="/lists/weekly").headers["Location"] == "/lists/weekly"
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)",
                 "/lists\r\nSet-Cookie: x=1"):
        assert sign_in(client, next=evil).headers["Location"] == "/lists", evil


def test_sign_in_is_refused_from_another_site(client, store, accounts):
    r = client.post("/login", data={"email": ADA, "password": PASSWORD}, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403 and session_cookie(client) is None
    r = client.post("/login", data={"email": ADA, "password": PASSWORD}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and session_cookie(client) is None


# -- limits and expiry ----------------------------------------------------------------------


def test_sign_in_attempts_are_limited_per_account_known_or_not(settings, store, accounts):
    client = make_app(settings.model_copy(update={"login_per_account_per_hour": 3})).test_client()
    for _ in range(3):
        assert sign_in(client, ADA, "a wrong password here").status_code == 200
    r = sign_in(client)  # the right password, too late
    assert r.status_code == 429 and b"Too many sign-in attempts. Try again in" in r.data
    assert int(r.headers["Retry-After"]) > 0 and session_cookie(client) is None
    for _ in range(3):
        sign_in(client, "nobody@example.com", "a wrong password here")
    unknown = sign_in(client, "nobody@example.com", "a wrong password here")
    assert unknown.status_code == 429  # the same answer: the limit says nothing about who has an account
    assert sign_in(client, ED).status_code == 303  # another account is not held up


def test_strangers_guesses_do_not_lock_an_editor_out_of_a_browser_they_signed_in_from(settings, store, accounts):
    """A per-account limit alone let anyone who knows an editor's address keep them out, hour after hour."""
    app = make_app(settings.model_copy(update={"login_per_account_per_hour": 3}))
    editor, stranger = app.test_client(), app.test_client()
    assert sign_in(editor).status_code == 303  # an earlier sign-in from the editor's own browser
    editor.post("/logout", data={"csrf": csrf_of(editor)})
    away = {"REMOTE_ADDR": "198.51.100.9"}
    for _ in range(3):
        stranger.post("/login", data={"email": ADA, "password": "a wrong password here"}, environ_base=away)
    assert stranger.post("/login", data={"email": ADA, "password": PASSWORD}, environ_base=away).status_code == 429
    assert sign_in(editor).status_code == 303 and session_cookie(editor)  # the editor's browser: its own limit
    # ... which guesses spend too, there as anywhere
    for _ in range(3):
        assert sign_in(editor, ADA, "a wrong password here").status_code == 200
    assert sign_in(editor).status_code == 429


def test_a_browser_is_known_only_for_the_account_it_signed_in_to_and_only_by_a_true_cookie(settings, store, accounts):
    app = make_app(settings.model_copy(update={"login_per_account_per_hour": 2}))
    browser = app.test_client()
    assert sign_in(browser, ED).status_code == 303  # known for ED, not for ADA
    for _ in range(2):
        sign_in(app.test_client(), ADA, "a wrong password here")
    assert sign_in(browser, ADA).status_code == 429
    device = browser.get_cookie("__Host-digest-device")
    assert device is not None and device.http_only and device.secure and device.same_site == "Strict"
    forged = app.test_client()
    payload, tag = device.value.rsplit(".", 1)
    forged.set_cookie("__Host-digest-device", f"{payload}.{tag[::-1]}", domain="localhost", path="/")
    for _ in range(2):
        sign_in(app.test_client(), ED, "a wrong password here")
    assert sign_in(forged, ED).status_code == 429  # a tampered cookie is no cookie
    assert sign_in(browser, ED).status_code == 303


def test_the_account_limit_counts_every_spelling_of_the_address(settings, store, accounts):
    """An address with a full-width letter in its domain signs in to the same account (IDNA maps it):
    it must spend the same account's attempts, or each spelling would be a fresh budget of guesses."""
    client = make_app(settings.model_copy(update={"login_per_account_per_hour": 3})).test_client()
    for spelling in ("ada@\uff45xample.com", "ada@e\uff58ample.com", "ADA@EXAMPLE.COM"):
        assert sign_in(client, spelling, "a wrong password here").status_code == 200
    r = sign_in(client, "ada@exampl\uff45.com")  # the right password, in yet another spelling, too late
    assert r.status_code == 429 and session_cookie(client) is None


def test_sign_in_attempts_are_limited_per_client_address(settings, store, accounts):
    client = make_app(settings.model_copy(update={"login_per_ip_per_hour": 4})).test_client()
    for i in range(4):
        sign_in(client, f"guess{i}@example.com", "a wrong password here")
    assert sign_in(client).status_code == 429
    other = {"REMOTE_ADDR": "192.0.2.7"}
    assert client.post("/login", data={"email": ADA, "password": PASSWORD}, environ_base=other).status_code == 303


def test_an_ipv6_client_is_limited_by_its_network_not_each_address(settings, store, accounts):
    """One host usually holds a whole /64: an address each guess must not be a fresh limit each."""
    client = make_app(settings.model_copy(update={"login_per_ip_per_hour": 4})).test_client()
    for i in range(4):
        client.post("/login", data={"email": f"guess{i}@example.com", "password": "a wrong password here"},
                    environ_base={"REMOTE_ADDR": f"2001:db8::{i + 1}"})
    same_network = {"REMOTE_ADDR": "2001:db8::ffff:1"}
    r = client.post("/login", data={"email": ADA, "password": PASSWORD}, environ_base=same_network)
    assert r.status_code == 429 and session_cookie(client) is None
    other_network = {"REMOTE_ADDR": "2001:db8:0:1::1"}
    r = client.post("/login", data={"email": ADA, "password": PASSWORD}, environ_base=other_network)
    assert r.status_code == 303


def test_a_flood_of_refused_sign_ins_cannot_push_the_editors_records_out(client, store, accounts, monkeypatch):
    """Anyone can be refused: in the editors' capped log, a few hundred clients' guesses an hour
    would evict every real sign-in and sign-out. They are kept apart, and /audit shows both."""
    import digest.store.audit

    monkeypatch.setattr(digest.store.audit, "AUDIT_MAX_ENTRIES", 100)
    assert sign_in(client).status_code == 303
    for i in range(500):  # what the sign-in form records for each refused guess
        audit.record(store, None, f"guess{i}@example.com", audit.SIGN_IN_REFUSED, f"from 192.0.2.{i % 250}")
    stranger = make_app(client.application.extensions["digest"].settings).test_client()
    sign_in(stranger, "mallory@example.com", "a wrong password here")
    assert [(e.account, e.action) for e in audit.entries(store, None)] == [(ADA, "sign-in")]
    refused = audit.refused_sign_ins(store, count=1000)
    assert refused[0].account == "mallory@example.com" and 100 <= len(refused) <= 200  # capped too
    page = client.get("/audit").data.decode()
    assert "Refused sign-ins" in page and "mallory@example.com" in page
    assert page.index(ADA) < page.index("Refused sign-ins") < page.index("mallory@example.com")


def test_a_session_ends_when_idle_and_at_its_end_however_busy(settings, store, accounts):
    idle = make_app(settings.model_copy(update={"editor_session_idle_minutes": 1 / 60})).test_client()
    sign_in(idle)
    assert idle.get("/lists").status_code == 200
    time.sleep(1.3)
    assert idle.get("/lists").status_code == 302
    busy = make_app(settings.model_copy(update={"editor_session_idle_minutes": 1 / 60,
                                                 "editor_session_max_hours": 2.5 / 3600})).test_client()
    sign_in(busy)
    started = time.monotonic()
    while time.monotonic() - started < 2.0:  # never idle for a second
        assert busy.get("/lists").status_code == 200
        time.sleep(0.4)
    time.sleep(0.8)
    assert busy.get("/lists").status_code == 302


def test_session_settings_are_checked():
    from digest.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="EDITOR_SESSION_MAX_HOURS"):
        load_settings(editor_session_idle_minutes=120, editor_session_max_hours=1)
    with pytest.raises(ConfigError, match="LOGIN_PER_IP_PER_HOUR"):
        load_settings(login_per_ip_per_hour=0)


# -- CSRF --------------------------------------------------------------------------------


def test_every_post_needs_the_session_token_and_this_site(client, store, accounts):
    sign_in(client)
    token = csrf_of(client)
    for data, headers in (({}, {}), ({"csrf": "forged"}, {}), ({"csrf": token[:-1]}, {}),
                          ({"csrf": token}, {"Origin": "https://evil.example"}),
                          ({"csrf": token}, {"Sec-Fetch-Site": "same-site"})):
        r = client.post("/lists/weekly/probe", data=data, headers=headers)
        assert r.status_code == 403, (data, headers)
        assert client.post("/logout", data=data, headers=headers).status_code == 403
    assert audit.entries(store, "weekly") == []  # nothing was done
    assert client.get("/lists").status_code == 200  # and nobody was signed out
    r = client.post("/lists/weekly/probe", data={"csrf": token}, headers={"Origin": "https://digest.example"})
    assert r.status_code == 200 and r.data == b"done for weekly"
    other = make_app(client.application.extensions["digest"].settings).test_client()
    sign_in(other, ED)
    assert client.post("/lists/weekly/probe", data={"csrf": csrf_of(other)}).status_code == 403  # another session's


def test_signed_out_posts_are_refused(client, store, accounts):
    assert client.post("/lists/weekly/probe", data={"csrf": "x"}).status_code == 403
    assert audit.entries(store, "weekly") == []


# -- who sees which list -----------------------------------------------------------------


def test_an_editor_gets_404_for_every_page_and_action_of_another_list(client, store, settings, accounts, topics):
    seed_week(store, ["space"])
    seed_week(store, [], list_slug="semanal")
    sign_in(client, ED)
    token = csrf_of(client)
    dashboard = client.get("/lists").data
    assert b"The Weekly Planet" in dashboard and b"El Planeta" not in dashboard and b"semanal" not in dashboard
    assert client.get("/lists/weekly").status_code == 200
    assert client.get("/lists/weekly/preview").status_code == 200
    assert client.get("/lists/weekly/audit").status_code == 200
    for path in ("/lists/semanal", "/lists/semanal/preview", "/lists/semanal/preview?format=text",
                 "/lists/semanal/audit"):
        r = client.get(path)
        unknown = client.get(path.replace("semanal", "nolist"))
        assert r.status_code == 404, path
        assert r.data.replace(b"semanal", b"X") == unknown.data.replace(b"nolist", b"X")  # as if it did not exist
    assert client.post("/lists/semanal/probe", data={"csrf": token}).status_code == 404
    lost = client.get("/lists/semanal").data.decode()
    assert "Sign out" in lost and 'href="/lists"' in lost and "El Planeta" not in lost  # the editors' navigation
    assert audit.entries(store, "semanal") == []
    assert client.get("/audit").status_code == 404  # sign-ins are for admins
    revoke(store, ED, ["weekly"])
    assert client.get("/lists/weekly/preview").status_code == 404  # at once, not at the next sign-in


def test_a_stranger_gets_the_plain_error_page(client, accounts):
    page = client.get("/archive/nolist").data.decode()
    assert "Sign out" not in page and "digest editors" not in page


def test_an_admin_sees_every_list(client, store, accounts):
    sign_in(client, ADA)
    for slug in ("weekly", "semanal"):
        assert client.get(f"/lists/{slug}").status_code == 200
        assert client.get(f"/lists/{slug}/audit").status_code == 200
    assert client.get("/lists/nolist").status_code == 404
    page = client.get("/audit").data.decode()
    assert "sign-in" in page and ADA in page


def test_public_pages_stay_open_signed_out(settings, store, weekly):
    from datetime import datetime, timedelta, timezone

    app = make_app(settings.model_copy(update={"inbound_parse_secret": type(settings.secret_key)("s" * 24)}))
    client = app.test_client()
    store.add_subscriber("weekly", Subscriber(email="alice@example.com"))
    token = make_token(settings, "weekly", "alice@example.com")
    store.add_subscriber("weekly", Subscriber(email="bob@example.com", status="pending"))
    nonce = store.open_request("weekly", "bob@example.com", None, 3600)  # the page shows the open request
    confirm = make_confirm_token(settings, "weekly", "bob@example.com",
                                 datetime.now(timezone.utc) + timedelta(days=1), nonce)
    for path in ("/s/weekly", f"/u/{token}", f"/p/{token}", f"/c/{confirm}", "/archive/weekly", "/healthz",
                 "/login"):
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code)
    inbound = client.post(f"/webhooks/inbound/{'s' * 24}", data={})
    assert inbound.status_code not in (302, 401, 403)  # the URL secret is its credential, not a sign-in
    for path in ("/lists", "/lists/weekly", "/lists/weekly/preview", "/lists/weekly/audit", "/audit"):
        r = client.get(path)
        assert r.status_code == 302 and r.headers["Location"].startswith("/login?next="), path


def test_the_deprecated_editor_credential_reads_but_changes_nothing(settings, store, accounts):
    import base64

    credential = "editor:a long editor password"
    app = make_app(settings.model_copy(update={"editor_credential": type(settings.secret_key)(credential)}))
    client = app.test_client()
    basic = {"Authorization": "Basic " + base64.b64encode(credential.encode()).decode()}
    assert client.get("/lists/weekly", headers=basic).status_code == 200
    assert client.post("/lists/weekly/probe", headers=basic, data={"csrf": ""}).status_code == 403
    r = client.get("/lists")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Basic")
    wrong = {"Authorization": "Basic " + base64.b64encode(b"editor:guess").decode()}
    assert client.get("/lists", headers=wrong).status_code == 401
    assert sign_in(client).status_code == 303 and client.get("/lists").status_code == 200  # accounts work beside it


def test_guesses_at_the_deprecated_editor_credential_are_limited_per_client(settings, store, accounts):
    """HTTP Basic skips the sign-in form: its wrong guesses spend the client's sign-in attempts too,
    and past the limit even the right credential is refused, as on the form."""
    import base64

    credential = "editor:a long editor password"
    app = make_app(settings.model_copy(update={"editor_credential": type(settings.secret_key)(credential),
                                               "login_per_ip_per_hour": 3}))
    client = app.test_client()
    for i in range(4):
        guess = {"Authorization": "Basic " + base64.b64encode(f"editor:guess number {i}".encode()).decode()}
        assert client.get("/lists", headers=guess).status_code == 401
    right = {"Authorization": "Basic " + base64.b64encode(credential.encode()).decode()}
    assert client.get("/lists", headers=right).status_code == 401  # the right one, too late
    assert client.get("/lists", headers=right, environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 200
    for _ in range(5):  # the right credential is no guess: a reader using it is not held up
        assert client.get("/lists", headers=right, environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 200


# -- passwords stay secret --------------------------------------------------------------


def test_passwords_are_hashed_never_logged_nor_recorded(client, store, accounts, caplog):
    with caplog.at_level(logging.DEBUG):
        sign_in(client)
        sign_in(client, ED, "the wrong password, logged?")
        sign_in(client, PASSWORD, PASSWORD)  # a password typed into the address box
    everything = " ".join(str(store.r.dump(k)) + str(store.r.type(k)) for k in store.r.scan_iter(f"{store.prefix}:*"))
    values = [str(store.r.hgetall(store.key("editor", "accounts")))]
    assert "$argon2id$" in values[0]
    for secret in (PASSWORD, "the wrong password, logged?"):
        assert secret not in everything and secret not in " ".join(values)
        assert secret not in caplog.text
        recorded = audit.entries(store, None) + audit.refused_sign_ins(store)
        assert all(secret not in f"{e.account} {e.detail}" for e in recorded)
    assert "(not an address)" in [e.account for e in audit.refused_sign_ins(store)]


def test_accounts_are_checked_when_made(store, weekly):
    with pytest.raises(InvalidInput, match="at least 12"):
        create_account(store, ADA, "short")
    with pytest.raises(InvalidInput, match="role"):
        create_account(store, ADA, PASSWORD, role="owner")
    create_account(store, ADA, PASSWORD)
    with pytest.raises(InvalidInput, match="has an account already"):
        create_account(store, "ADA@Example.com", PASSWORD)
    assert authenticate(store, "Ada@EXAMPLE.com", PASSWORD) is not None
    assert authenticate(store, ADA, PASSWORD + "x") is None
    assert authenticate(store, ADA, "x" * 5000) is None


def cli(settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    from tests.workers import worker_env

    return subprocess.run([sys.executable, "-c", "from digest.cli import main; main()", *args], input=stdin,
                          env=worker_env(settings), capture_output=True, text=True, timeout=60)


def test_the_command_line_manages_accounts_and_never_takes_a_password_as_an_argument(settings, store, weekly,
                                                                                   semanal):
    refused = cli(settings, "editors", "create-admin", ADA, "--password", PASSWORD)
    assert refused.returncode != 0 and "No such option" in refused.stderr
    made = cli(settings, "editors", "create-admin", ADA, "--password-file", "-", stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    assert PASSWORD not in made.stdout + made.stderr and "/login" in made.stdout
    assert authenticate(store, ADA, PASSWORD) is not None
    assert cli(settings, "editors", "add", ED, "--lists", "nolist", stdin=PASSWORD).returncode == 1
    added = cli(settings, "editors", "add", ED, "--lists", "weekly", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert cli(settings, "editors", "grant", ED, "--lists", "semanal").returncode == 0
    listing = cli(settings, "editors", "ls").stdout
    assert f"{ADA}\tadmin\tall lists" in listing and f"{ED}\teditor\tweekly,semanal" in listing
    assert cli(settings, "editors", "revoke", ED, "--lists", "weekly").returncode == 0
    assert store.get_account(ED).lists == ["semanal"]
    assert [e.action for e in audit.entries(store, "weekly")] == ["editor revoked", "editor granted"]
    short = cli(settings, "editors", "passwd", ED, stdin="short\n")
    assert short.returncode == 1 and "at least 12" in short.stderr
    assert cli(settings, "editors", "passwd", ED, stdin="a brand new password\n").returncode == 0
    assert authenticate(store, ED, "a brand new password") is not None
    assert cli(settings, "editors", "disable", ED).returncode == 0 and store.get_account(ED).disabled
    assert "DISABLED" in cli(settings, "editors", "ls").stdout
    assert cli(settings, "editors", "remove", ED).returncode == 0 and store.find_account(ED) is None
    assert cli(settings, "editors", "remove", ED).returncode == 1


# -- in a real browser ----------------------------------------------------------------------


@pytest.mark.browser
def test_signing_in_and_out_in_a_browser_on_a_phone(settings, store, accounts, topics, tmp_path, request):
    from pathlib import Path

    from tests.test_web_browser import CHROMIUM, serve

    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed")
    from digest.deliver.outbox import OutboxSender
    from digest.deliver.send import prepare_issue, send_inline
    from tests.factories import readers
    from tests.test_email_browser import Screenshots

    browser = request.getfixturevalue("browser")
    shots = Screenshots(tmp_path, "editors")
    seed_week(store, ["space", "climate"])
    store.add_subscribers("weekly", readers(6, [None]))
    send_inline(store, settings, OutboxSender(settings.outbox_dir), prepare_issue(store, settings, "weekly").issue_id)
    seed_week(store, ["markets"], unmatched=0)  # new since: the list is collecting again
    app = create_app(settings.model_copy(update={"base_url": "http://127.0.0.1:1"}))  # http: no Secure cookie
    with serve(app) as url:
        page = browser.new_page(viewport={"width": 375, "height": 800})
        page.goto(f"{url}/lists/weekly")
        assert page.url == f"{url}/login?next=/lists/weekly"
        page.get_by_label("Email address").fill(ED)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{url}/lists/weekly")
        assert page.get_by_role("heading", name="The Weekly Planet").is_visible()
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 376  # fits a phone
        assert page.evaluate("document.cookie") == ""  # HttpOnly: no script can read the session
        shots.take(page, "list-375-light")
        page.goto(f"{url}/lists")
        shots.take(page, "dashboard-375-light")
        page.emulate_media(color_scheme="dark")
        shots.take(page, "dashboard-375-dark")
        page.set_viewport_size({"width": 1200, "height": 800})
        shots.take(page, "dashboard-1200-dark")
        page.goto(f"{url}/lists/weekly")
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 1200
        shots.take(page, "list-1200-dark")
        page.goto(f"{url}/lists/semanal")
        assert "unknown list" in page.content()
        page.goto(f"{url}/lists")
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{url}/login?signed_out=1")
        page.goto(f"{url}/lists")
        assert page.url.startswith(f"{url}/login")
