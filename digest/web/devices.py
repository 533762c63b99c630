"""Browsers an editor has signed in from, so that strangers' guesses cannot lock the editor out.

A per-account limit on sign-in attempts (web/auth.py) is shared by everyone who
types that address: a stranger who knows an editor's address could spend its
attempts every hour and keep the editor out. So a sign-in that succeeds leaves a
cookie in that browser naming the account (signed with SECRET_KEY, with a random
id of its own), and a later attempt at the same account from a browser holding it
counts against that browser's own limit, not the account's: strangers' guesses
only ever spend the account's limit, which the editor's browser no longer needs
(OWASP's "device cookies"). The per-client limit still applies to everyone.

A stolen cookie gives its thief the same number of guesses a stranger has, in a
limit of its own; it opens nothing by itself (the password is still asked for).
"""

from __future__ import annotations

import secrets

from flask import Response, request
from itsdangerous import BadSignature, URLSafeSerializer

KEEP_DAYS = 180


def cookie_name(secure: bool) -> str:
    return "__Host-digest-device" if secure else "digest-device"


def _signer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="digest editor device")


def known_device(secret: str, secure: bool, account: str) -> str | None:
    """The id of this browser when it signed in to `account` (its normal form) before; else None."""
    raw = request.cookies.get(cookie_name(secure), "")
    if not raw or len(raw) > 1000:
        return None
    try:
        held = _signer(secret).loads(raw)
    except BadSignature:
        return None
    if not isinstance(held, dict) or held.get("account") != account or not isinstance(held.get("id"), str):
        return None
    return held["id"]


def remember_device(response: Response, secret: str, secure: bool, account: str) -> None:
    """Leave the cookie that makes this browser a known one for `account` (its normal form)."""
    token = _signer(secret).dumps({"account": account, "id": secrets.token_urlsafe(16)})
    response.set_cookie(cookie_name(secure), token, max_age=KEEP_DAYS * 86400, httponly=True, samesite="Strict",
                        secure=secure, path="/")
