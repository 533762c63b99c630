"""Open confirmation requests (double opt-in): at most one per list and address.

    P:list:{L}:optin:{sha256(email)[:32]}   string JSON {"nonce", "choices"}, expires with its links

A confirmation link names its request by nonce, so it confirms once: confirming
closes the request, and the link of someone who has unsubscribed since cannot
subscribe them again. Asking again while a request is open keeps its nonce, so
every link sent for it works until its own expiry. `choices` holds what the
request asked for (name, topics, locale, source, ip, at) when the record cannot
hold it yet: an unsubscribed reader stays unsubscribed until they confirm.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from digest.store.base import StoreBase


class OptinStore(StoreBase):
    def _request_key(self, list_slug: str, email: str) -> str:
        return self.key("list", list_slug, "optin", hashlib.sha256(email.encode()).hexdigest()[:32])

    def open_request(self, list_slug: str, email: str, choices: dict[str, Any] | None, ttl: int) -> str:
        """Open (or refresh) the request of `email`; returns its nonce, kept while it is open."""
        key = self._request_key(list_slug, email)
        nonce = secrets.token_urlsafe(9)
        if self.r.set(key, json.dumps({"nonce": nonce, "choices": choices}), ex=ttl, nx=True):
            return nonce
        raw = self.r.get(key)
        if raw is not None:
            nonce = json.loads(raw)["nonce"]
        self.r.set(key, json.dumps({"nonce": nonce, "choices": choices}), ex=ttl)
        return nonce

    def open_request_of(self, list_slug: str, email: str) -> dict[str, Any] | None:
        """{"nonce", "choices"} of the open request, or None."""
        raw = self.r.get(self._request_key(list_slug, email))
        return json.loads(raw) if raw is not None else None

    def close_request(self, list_slug: str, email: str) -> None:
        self.r.delete(self._request_key(list_slug, email))
