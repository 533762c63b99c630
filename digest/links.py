"""Signed per-subscriber links: unsubscribe and preferences.

A token carries (list, email) signed with SECRET_KEY, so the web process can act
on it without a lookup table, and nobody can unsubscribe someone else by editing
a URL. Tokens do not expire: an unsubscribe link in a years-old email must work.
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

from digest.config import Settings
from digest.errors import InvalidInput


def _serializer(settings: Settings, purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(settings.secret_key.get_secret_value(), salt=f"digest.{purpose}")


def make_token(settings: Settings, list_slug: str, email: str, purpose: str = "subscriber") -> str:
    return _serializer(settings, purpose).dumps([list_slug, email])


def read_token(settings: Settings, token: str, purpose: str = "subscriber") -> tuple[str, str]:
    try:
        list_slug, email = _serializer(settings, purpose).loads(token)
    except (BadSignature, ValueError, TypeError):
        raise InvalidInput("this link is not valid (it was altered or cut short)") from None
    return str(list_slug), str(email)


def unsubscribe_url(settings: Settings, list_slug: str, email: str) -> str:
    return f"{settings.base_url}/u/{make_token(settings, list_slug, email)}"


def preferences_url(settings: Settings, list_slug: str, email: str) -> str:
    return f"{settings.base_url}/p/{make_token(settings, list_slug, email)}"


def unsubscribe_mailto(settings: Settings, list_slug: str, email: str, from_email: str) -> str:
    """mailto: for List-Unsubscribe; the token in the subject identifies the reader."""
    domain = from_email.rsplit("@", 1)[-1]
    return f"mailto:unsubscribe@{domain}?subject=unsubscribe%20{make_token(settings, list_slug, email)}"
