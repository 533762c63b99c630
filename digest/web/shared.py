"""What every blueprint uses: the process's store and signer, translated page helpers."""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template

from digest.config import Settings
from digest.links import TokenSigner
from digest.render import translations
from digest.store import Store

# Every response carries these (web/app.py); a view may set its own CSP from this one (web/review.py).
SECURITY_HEADERS = {
    # Pages carry no script; emails previewed here may load remote images.
    "Content-Security-Policy": "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Pages hold a reader's signed links: keep them out of shared caches and history.
    "Cache-Control": "no-store",
}


class Shared:
    """What every view needs, built once per process."""

    def __init__(self, settings: Settings, store: Store, signer: TokenSigner) -> None:
        self.settings, self.store, self.signer = settings, store, signer


def shared() -> Shared:
    return current_app.extensions["digest"]  # type: ignore[no-any-return]


def translator(locale: str) -> Any:
    """gettext with named placeholders, as the templates call it: _("Hi %(name)s", name=...)."""
    gettext = translations(locale).gettext

    def _(text: str, **kw: Any) -> str:
        return gettext(text) % kw if kw else gettext(text)
    return _


english = translator("en")


def message_page(title: str, message: str, **context: Any) -> str:
    return render_template("message.html", title=title, message=message, _=english, **context)


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:2]}{'•' * max(1, len(local) - 2)}@{domain}"
