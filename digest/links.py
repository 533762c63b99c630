"""Signed per-subscriber links: unsubscribe and preferences, and confirmation.

A token carries (list, email) and a 128-bit tag keyed with SECRET_KEY, so the web
process can act on it without a lookup table and nobody can unsubscribe someone
else by editing a URL. Tokens do not expire: an unsubscribe link in a years-old
email must still work.

The tag is keyed BLAKE2b-128 (BLAKE2's own keyed mode, a MAC by design: one call,
~0.7 us, where HMAC-SHA256 takes two hashes, ~1 us, a million times a send). Tokens
mailed before carry an HMAC-SHA256 tag of the same length and layout; reading a
token accepts either, both compared in constant time, each under its own key
derived from SECRET_KEY and the purpose, so a tag made for one list, address or
purpose is good for no other.

Confirmation links (double opt-in) are the exception: they carry an expiry and
a nonce as well, under their own key (purpose "confirm"), so no other link of
a reader can be turned into one, and one stops working after CONFIRM_TOKEN_DAYS.
They are few (one per sign-up) and stay HMAC-SHA256 only.

Why not itsdangerous: a million-recipient send signs a million tokens, and
hashlib's HMAC with a fixed layout costs about a tenth of itsdangerous's
JSON-plus-signer round (measured by bench/send.py's per-recipient cost).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from datetime import datetime, timezone
from typing import NamedTuple

from digest.config import Settings
from digest.errors import InvalidInput

_TAG_BYTES = 16  # 128-bit tag: far beyond guessing range, keeps URLs short
SAMPLE_READER = "reader@example.com"  # whose links previews show
# A token is exactly what sign() makes: unpadded base64url, a dot, a 22-character tag.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{2,2048}\.[A-Za-z0-9_-]{22}")


_b2a = binascii.b2a_base64
_blake2b = hashlib.blake2b
_PERSON = b"digest-token"  # BLAKE2b's personalization: these tags are digest's tokens, nothing else
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Strict: only the one spelling _b64 makes of some bytes decodes (no padding, no
    standard alphabet, no stray bits), so a token has exactly one valid form."""
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise ValueError("not canonical base64url")
    return data


class TokenSigner:
    """Signs (list, email) pairs; build one per send and reuse it."""

    def __init__(self, settings: Settings, purpose: str = "subscriber") -> None:
        secret = settings.require_secret_key().encode("utf-8")
        key = hashlib.sha256(b"digest." + purpose.encode() + b"\0" + secret).digest()
        # BLAKE2b's key: another derivation than HMAC's, so neither tag can stand for the other.
        # None for confirmation links, which stay HMAC only.
        self._b2key = None if purpose == CONFIRM else hashlib.sha256(
            b"digest.blake2b." + purpose.encode() + b"\0" + secret).digest()
        # HMAC-SHA256 (RFC 2104) spelt out: the hashes of the padded key, started once and
        # copied per token, cost half of hmac's copy-update-digest (every token read checks it).
        # The 32-byte key is shorter than SHA-256's 64-byte block, so it is only zero-padded.
        padded = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def _tag(self, payload: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(payload)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:_TAG_BYTES]

    def _b2tag(self, payload: bytes) -> bytes:
        return _blake2b(payload, digest_size=_TAG_BYTES, key=self._b2key, person=_PERSON).digest()

    def sign(self, list_slug: str, email: str) -> str:
        # Called once per recipient of every send: kept to the bare calls (base64url is
        # standard base64 with "+/" translated, done once over the whole token).
        payload = f"{list_slug}\n{email}".encode()
        tag = _b2a(_blake2b(payload, digest_size=_TAG_BYTES, key=self._b2key, person=_PERSON).digest(),
                   newline=False)[:22]  # 16 bytes: 22 chars, no padding
        return (_b2a(payload, newline=False).rstrip(b"=") + b"." + tag).translate(_URLSAFE).decode("ascii")

    def read(self, token: str) -> tuple[str, str]:
        list_slug, email = self.read_fields(token, 2)
        return list_slug, email

    def sign_fields(self, *fields: str) -> str:
        """An HMAC token over any fields without newlines (confirmation links carry four;
        over (list, email), a subscriber token as digest made them before BLAKE2b)."""
        payload = "\n".join(fields).encode()
        return _b64(payload) + "." + _b64(self._tag(payload))

    def read_fields(self, token: str, count: int) -> list[str]:
        """The `count` fields a token signed for this purpose carries; InvalidInput otherwise."""
        try:
            if not _TOKEN.fullmatch(token):
                raise ValueError("not a token")
            body, tag = token.split(".")
            payload, given = _unb64(body), _unb64(tag)
            good = hmac.compare_digest(given, self._tag(payload))  # made before BLAKE2b, or a confirmation
            if self._b2key is not None:
                good |= hmac.compare_digest(given, self._b2tag(payload))
            fields = payload.decode("utf-8").split("\n")
            good &= len(fields) == count
        except (ValueError, UnicodeDecodeError, binascii.Error):
            good = False
        if not good:
            raise InvalidInput("this link is not valid (it was altered or cut short)")
        return fields


def preview_token(settings: Settings, list_slug: str) -> str:
    """The token previews carry: signed for previews only, so it works on no reader's links.

    A preview shows every link where the email has it; following one says it was a preview.
    """
    return TokenSigner(settings, purpose=PREVIEW).sign(list_slug, SAMPLE_READER)


PREVIEW = "preview"


def make_token(settings: Settings, list_slug: str, email: str, purpose: str = "subscriber") -> str:
    return TokenSigner(settings, purpose).sign(list_slug, email)


def read_token(settings: Settings, token: str, purpose: str = "subscriber") -> tuple[str, str]:
    return TokenSigner(settings, purpose).read(token)


CONFIRM = "confirm"


class ExpiredLink(InvalidInput):
    """A genuine link whose time is up (a confirmation link older than CONFIRM_TOKEN_DAYS)."""

    def __init__(self, message: str, list_slug: str) -> None:
        super().__init__(message)
        self.list_slug = list_slug  # genuine: the page can offer that list's form again


class ConfirmToken(NamedTuple):
    list_slug: str
    email: str
    expires: datetime
    nonce: str  # names the request it answers (store/optin.py): a used or replaced request confirms nothing


def make_confirm_token(settings: Settings, list_slug: str, email: str, expires: datetime, nonce: str) -> str:
    return TokenSigner(settings, CONFIRM).sign_fields(list_slug, email, str(int(expires.timestamp())), nonce)


def read_confirm_token(settings: Settings, token: str, now: datetime | None = None) -> ConfirmToken:
    """The request a confirmation link stands for: InvalidInput if forged, ExpiredLink if too old.

    The signature is checked first: a forged link is "not valid" whatever expiry it claims.
    """
    list_slug, email, expires_at, nonce = TokenSigner(settings, CONFIRM).read_fields(token, 4)
    expires = datetime.fromtimestamp(int(expires_at), timezone.utc)  # we signed it: always digits
    if (now or datetime.now(timezone.utc)) >= expires:
        raise ExpiredLink("this confirmation link has expired: subscribe again to get a new one", list_slug)
    return ConfirmToken(list_slug, email, expires, nonce)


def list_unsubscribe(base_url: str, mail_domain: str, token: str, list_slug: str) -> str:
    """The List-Unsubscribe header: the one-click https link first, mailto second (RFC 2369, 8058).

    The same https URL is the footer's unsubscribe link, and the web process
    answers both the reader's GET (a confirmation page) and the provider's POST.
    The mailto goes to `unsubscribe+{list}@{mail_domain}` (INBOUND_PARSE_DOMAIN, else
    the list's from domain) with the token in the subject; SendGrid's Inbound Parse
    hands it to digest.inbound, which trusts the token, else the list in the address
    with an authenticated sender.
    """
    return (f"<{base_url}/u/{token}>, "
            f"<mailto:unsubscribe+{list_slug}@{mail_domain}?subject=unsubscribe%20{token}>")
