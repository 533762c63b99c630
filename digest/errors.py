"""The errors digest raises on purpose. Each message names the culprit.

    DigestError
    ├── ConfigError          a setting is missing or malformed
    ├── NotFound             an unknown feed, topic, list, subscriber or issue
    ├── InvalidInput         a bad address, slug, URL, CSV row, ...
    ├── FeedError            a feed could not be fetched or parsed
    │   └── FetchError       HTTP-level: status, timeout, size cap, redirect loop
    ├── RedisUnavailable     no Redis answered and none could be started
    └── TransportError       a sender could not hand a message over
"""

from __future__ import annotations


class DigestError(Exception):
    """Base of every error digest raises on purpose."""


class ConfigError(DigestError):
    pass


class NotFound(DigestError):
    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"unknown {kind}: {key!r}")
        self.kind = kind
        self.key = key


class InvalidInput(DigestError):
    pass


class FeedError(DigestError):
    pass


class FetchError(FeedError):
    """`status`: the HTTP status that failed the fetch (None: no answer, or not usable)."""

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class RedisUnavailable(DigestError):
    pass


class TransportError(DigestError):
    """A sender failed to hand a batch over.

    permanent: resending the same request cannot succeed (SendGrid 400).
    halt: nothing else should be sent either (401/403: a bad key).
    retry_after: seconds the server asked us to wait (429 X-RateLimit-Reset).
    ambiguous: the request may have been accepted (sent, then no answer); resending
        could deliver twice, so the batch is left for the operator to resolve.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        halt: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
        ambiguous: bool = False,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent or halt
        self.halt = halt
        self.retry_after = retry_after
        self.status = status
        self.ambiguous = ambiguous


class InvalidField(InvalidInput):
    """A bad value in a request from a form or an API; `field` names it (email, name, topics, weeks ...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
