"""Open confirmation requests (double opt-in): at most one per list and address.

    P:list:{L}:optin:{sha256(email)[:32]}   string JSON {"links": {nonce: choices}}, expires with its links

Each confirmation link names one nonce, and each nonce holds the choices of the
request that link was mailed for (name, topics, locale, source, ip, at), or null
when the subscriber record holds them (the first request of a new address, or an
editor's). So what a link confirms is fixed when it is mailed: a later request,
anyone's, mails a link of its own and cannot change what an earlier link confirms.
Confirming closes the request, so a link confirms once and the link of someone who
has unsubscribed since cannot subscribe them again; every other link sent for an
open request works until its own expiry. A request keeps its newest MAX_LINKS links.

Records written before links had nonces of their own read {"nonce", "choices"}: one link.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

import redis

from digest.store.base import StoreBase

MAX_LINKS = 32  # over CONFIRM_TOKEN_DAYS (7) x SUBSCRIBE_PER_ADDRESS_PER_DAY (3): the address quota binds first


def _links(record: dict[str, Any]) -> dict[str, Any]:
    links = {record["nonce"]: record.get("choices")} if "nonce" in record else {}
    return links | record.get("links", {})


class OptinStore(StoreBase):
    def _request_key(self, list_slug: str, email: str) -> str:
        return self.key("list", list_slug, "optin", hashlib.sha256(email.encode()).hexdigest()[:32])

    def open_request(self, list_slug: str, email: str, choices: dict[str, Any] | None, ttl: int) -> str:
        """Open the request of `email`, or add a link to it; returns the new link's nonce, which
        confirms `choices` (None: the subscriber record's) and nothing else."""
        key = self._request_key(list_slug, email)
        nonce = secrets.token_urlsafe(9)

        def add(pipe: redis.client.Pipeline) -> None:
            raw = pipe.get(key)
            links = _links(json.loads(raw)) if raw is not None else {}
            links[nonce] = choices
            kept = dict(list(links.items())[-MAX_LINKS:])
            pipe.multi()
            pipe.set(key, json.dumps({"links": kept}), ex=ttl)

        self.r.transaction(add, key)
        return nonce

    def link_choices(self, list_slug: str, email: str, nonce: str) -> tuple[bool, dict[str, Any] | None]:
        """(open, choices): whether the link of `nonce` belongs to the open request, and what it confirms."""
        raw = self.r.get(self._request_key(list_slug, email))
        links = _links(json.loads(raw)) if raw is not None else {}
        return nonce in links, links.get(nonce)

    def close_request(self, list_slug: str, email: str) -> None:
        self.r.delete(self._request_key(list_slug, email))
