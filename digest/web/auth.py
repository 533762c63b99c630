"""Signing editors in and out, their sessions, CSRF, and the access rule of the editors' app.

A session lives in Redis (store/sessions.py); the browser holds only its random
id, in a cookie that scripts cannot read (HttpOnly), that other sites' requests
do not carry except top-level navigation (SameSite=Lax), and that only travels
over https when BASE_URL is https (Secure, and the __Host- prefix). A session
ends after EDITOR_SESSION_IDLE_MINUTES unused and EDITOR_SESSION_MAX_HOURS after
its sign-in, at sign-out, and when its account is disabled, removed or given a
new password. Each sign-in gets a new id (a planted cookie is worth nothing).

Every POST of a signed-in page carries the session's CSRF token (a hidden field)
and must not come from another site's page (Sec-Fetch-Site/Origin: web/signup.py).

Sign-in attempts are limited per client address (an IPv6 client's /64) and per account (typed address,
known or not), or, from a browser that signed in to that account before, per browser, so that
strangers' guesses cannot lock an editor out (web/devices.py); an unknown address and a wrong
password get the same answer, in about the same time (digest/editors/accounts.py).

`editors_only(blueprint)` sets the rule on a blueprint once: signed out, a GET is
sent to /login and anything else gets 403; a view with a <slug> is 404 to an
editor who does not manage that list, the same answer as for a list that does
not exist. `managed_list(slug)` is that check for code that needs the list.
"""

from __future__ import annotations

import hmac
import logging
import math
import secrets
import time
from typing import Any

from flask import Blueprint, Response, abort, g, redirect, render_template, request

from digest import audit
from digest.addresses import plain_address
from digest.clients import client_network
from digest.editors.accounts import account_email, authenticate
from digest.errors import InvalidInput, NotFound
from digest.models import DigestList
from digest.store.accounts import ADMIN, Account
from digest.store.sessions import Session
from digest.web.devices import known_device, remember_device
from digest.web.shared import english, shared
from digest.web.signup import client_ip, cross_site

log = logging.getLogger(__name__)
blueprint = Blueprint("auth", __name__)

CSRF_FIELD = "csrf"
HOME = "/lists"
WRONG = "Wrong email address or password."
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def cookie_name() -> str:
    # __Host-: the browser takes it only from https, for this host and path /, so a
    # sibling subdomain cannot plant or overwrite it.
    return "__Host-digest-editor" if _secure() else "digest-editor"


def _secure() -> bool:
    return shared().settings.base_url.startswith("https://")


def _idle_seconds() -> float:
    return shared().settings.editor_session_idle_minutes * 60


# -- who is asking ---------------------------------------------------------------

def current_account() -> Account | None:
    """The signed-in account of this request (None: signed out), read once per request."""
    if "account" not in g:
        g.account, g.session = _from_session()
        if g.account is None:
            g.account = _from_editor_credential()
    return g.account  # type: ignore[no-any-return]


def _from_session() -> tuple[Account | None, Session | None]:
    session_id = request.cookies.get(cookie_name(), "")
    if not session_id or len(session_id) > 100:
        return None, None
    store = shared().store
    session = store.read_session(session_id, _idle_seconds())
    if session is None:
        return None, None
    account = store.find_account(session.email)
    if account is None or account.disabled:  # removed or disabled since: the session dies with it
        store.delete_session(session_id)
        return None, None
    return account, session


def _from_editor_credential() -> Account | None:
    """Deprecated EDITOR_CREDENTIAL (HTTP Basic): an admin who can read but change nothing
    (no session, so no CSRF token: every POST is refused)."""
    settings, store = shared().settings, shared().store
    credential = settings.editor_credential
    auth = request.authorization
    if credential is None or auth is None or auth.type != "basic":
        return None
    # Wrong guesses spend the client's sign-in attempts, as the form's do; past the limit not even the
    # right credential is taken. Right ones are not counted: a browser sends it with every request.
    network, limit = client_network(client_ip()), settings.login_per_ip_per_hour
    if store.limit_reached("login-ip", network, limit, 3600):
        return None
    user, _, password = credential.get_secret_value().partition(":")
    ok = hmac.compare_digest((auth.username or "").encode(), user.encode())
    ok &= hmac.compare_digest((auth.password or "").encode(), password.encode())
    if not ok:
        store.hit_limit("login-ip", network, limit, 3600)
        return None
    return Account(email="EDITOR_CREDENTIAL", role=ADMIN)


def csrf_token() -> str:
    session = g.get("session")
    return session.csrf if session else ""


def check_csrf() -> None:
    """403 for a POST from another site, or without this session's token."""
    given = request.form.get(CSRF_FIELD, "")
    expected = csrf_token()
    if cross_site() or not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        abort(403, description="This form has expired or did not come from this site. Reload the page and try again.")


def managed_list(slug: str) -> DigestList:
    """The list, if the signed-in account manages it; otherwise NotFound, as for a list that does not exist."""
    account = current_account()
    if account is None or not account.can_manage(slug):
        raise NotFound("list", slug)
    return shared().store.get_list(slug)


def editors_only(bp: Blueprint) -> None:
    """Set the editors' access rule on a blueprint (module docstring)."""

    @bp.before_request
    def _signed_in_editors_only() -> Response | None:
        account = current_account()
        if account is None:
            if shared().settings.editor_credential is not None:  # deprecated Basic: challenge, and say where to go
                return Response("Sign in at /login.\n", 401, {"WWW-Authenticate": 'Basic realm="digest editors"'},
                                mimetype="text/plain")
            if request.method in SAFE_METHODS:
                return redirect(f"/login?next={_quote(request.full_path.rstrip('?'))}")
            abort(403, description="Sign in first.")
        if request.method not in SAFE_METHODS:
            check_csrf()
        slug = (request.view_args or {}).get("slug")
        if slug is not None:
            g.editor_list = managed_list(slug)
        return None


def editor_page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """A page of the editors' app: the account, its CSRF token and English for the templates."""
    account = g.get("account")
    return render_template(template, account=account, csrf=csrf_token(), _=english, **context), status


# -- sign-in and sign-out ----------------------------------------------------------

def safe_next(value: str | None) -> str:
    """Where to go after sign-in: a path of this site only (never //host or /\\host, which browsers
    read as another site), else the dashboard."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or \
            any(ord(c) < 32 or c == "\\" for c in value):
        return HOME
    return value


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


@blueprint.get("/login")
def login_form() -> tuple[str, int] | Response:
    if current_account() is not None and g.get("session") is not None:
        return redirect(safe_next(request.args.get("next")))
    notice = "You are signed out." if request.args.get("signed_out") else ""
    return editor_page("editor/login.html", next=safe_next(request.args.get("next")), email="", notice=notice)


@blueprint.post("/login")
def login() -> tuple[str, int] | Response:
    if cross_site():
        abort(403, description="Sign in from this site's own page.")
    app = shared()
    settings, store = app.settings, app.store
    email = request.form.get("email", "").strip()[:320]
    password = request.form.get("password", "")
    target = safe_next(request.form.get("next"))
    ip, account_key, secret = client_ip(), _limit_key(email), settings.require_secret_key()
    # A browser that signed in to this account before has a limit of its own (web/devices.py).
    device = known_device(secret, _secure(), account_key)
    per_account = ("login-device", device) if device else ("login-account", account_key)
    wait = max(store.hit_limit("login-ip", client_network(ip), settings.login_per_ip_per_hour, 3600),
               store.hit_limit(*per_account, settings.login_per_account_per_hour, 3600))
    if wait:
        minutes = max(1, math.ceil(wait / 60))
        text = f"Too many sign-in attempts. Try again in {minutes} minute{'' if minutes == 1 else 's'}."
        page, _ = editor_page("editor/login.html", next=target, email=email, error=text)
        return Response(page, 429, {"Retry-After": str(math.ceil(wait))}, mimetype="text/html")
    account = authenticate(store, email, password)
    if account is None:
        shown = plain_address(email) or "(not an address)"  # never what may be a password typed in the wrong box
        audit.record(store, None, shown, audit.SIGN_IN_REFUSED, f"from {ip}")
        return editor_page("editor/login.html", next=target, email=email, error=WRONG)
    old = request.cookies.get(cookie_name())
    if old:  # rotate: whatever id this browser held is dead from now on
        store.delete_session(old[:100])
    session_id = secrets.token_urlsafe(32)
    now = time.time()
    store.create_session(session_id, Session(email=account.email, csrf=secrets.token_urlsafe(32), created=now,
                                             ends=now + settings.editor_session_max_hours * 3600), _idle_seconds())
    audit.record(store, None, account.email, audit.SIGN_IN, f"from {ip}")
    log.info("editor %s signed in", account.email)
    response = redirect(target, 303)
    response.set_cookie(cookie_name(), session_id, httponly=True, samesite="Lax", secure=_secure(), path="/")
    remember_device(response, secret, _secure(), account_key)
    return response


def _limit_key(email: str) -> str:
    """The address's normal form, as authenticate looks the account up: a domain's full-width letters
    map to ASCII (IDNA), and every spelling of one account must share its limit."""
    try:
        return account_email(email)
    except InvalidInput:  # no account can have it; still one limit per typed string
        return email.lower()


@blueprint.post("/logout")
def logout() -> Response:
    account = current_account()
    session_id = request.cookies.get(cookie_name(), "")
    if g.get("session") is not None and account is not None:
        check_csrf()
        shared().store.delete_session(session_id)
        audit.record(shared().store, None, account.email, audit.SIGN_OUT, f"from {client_ip()}")
    response = redirect("/login?signed_out=1", 303)
    response.delete_cookie(cookie_name(), httponly=True, samesite="Lax", secure=_secure(), path="/")
    return response
