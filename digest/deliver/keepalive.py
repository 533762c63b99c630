"""One kept-alive HTTP connection per process for the sendgrid client.

python_http_client (under sendgrid's official client) opens a new urllib opener and
connection for every request: ~0.7 ms a request against ~0.25 ms on a connection
kept open, over a thousand requests a send. KeepAliveClient is that client with
only its transport replaced: the URL, headers and body are still built by the
official client objects, and an error status still raises python_http_client's
HTTPError subclasses, so digest/deliver/sendgrid.py classifies answers as before.

What a failure means for exactly once (deliver/ledger.py, rule 3) is decided by
where it happened, as with urllib:

- connecting, or writing the request: the server never had a whole request (a
  body shorter than its Content-Length is not a request), so the failure is a
  URLError, which the sender treats as "not handed over, safe to try again";
- after the whole request was written (no status line, a reset, a timeout, the
  connection closed without an answer): the server may have acted on it. It is
  raised as it came (OSError, TimeoutError, http.client's RemoteDisconnected),
  which the sender treats as unknown: the batch becomes unconfirmed. A request
  is never posted a second time by this module, even on a connection that had
  merely gone stale.

Stale connections are therefore looked for before a request, not after: one idle
longer than IDLE_LIMIT, or that the server has already closed (its socket reads
as ready: an EOF or a reset waiting), is replaced by a new one before anything is
written. That leaves only the instant between that look and the write, when a
server closing an idle connection makes one batch unconfirmed rather than risk
sending it twice.

The timeout is the socket's, as urllib's is: for connecting and for each read or
write, not for the whole exchange. A connection belongs to one thread and one
process (a forked child opens its own).
"""

from __future__ import annotations

import functools
import http.client
import os
import select
import ssl
import threading
import time
from email.message import Message
from io import BytesIO
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

import python_http_client
from python_http_client.exceptions import handle_error

# Servers close idle connections (nginx after 75 s, load balancers after 60 s):
# one idle this long is replaced before use instead of risking its close mid-request.
IDLE_LIMIT = 30.0


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """What urllib verifies with (the system's CAs, host names checked), loaded once."""
    return ssl.create_default_context()


class _Answer:
    """What python_http_client's Response reads from urllib's answer: status, body, headers."""

    __slots__ = ("_body", "_headers", "_status")

    def __init__(self, status: int, headers: Message, body: bytes) -> None:
        self._status, self._headers, self._body = status, headers, body

    def getcode(self) -> int:
        return self._status

    def read(self) -> bytes:
        return self._body

    def info(self) -> Message:
        return self._headers


class _Connection:
    """One connection to one origin, and when it was last used."""

    def __init__(self, scheme: str, netloc: str, timeout: float | None) -> None:
        self.origin = (scheme, netloc)
        self.pid = os.getpid()
        if scheme == "https":
            self.http: http.client.HTTPConnection = http.client.HTTPSConnection(
                netloc, timeout=timeout, context=_tls_context())
        else:
            self.http = http.client.HTTPConnection(netloc, timeout=timeout)
        self.used = time.monotonic()

    def usable(self, origin: tuple[str, str]) -> bool:
        if origin != self.origin or self.pid != os.getpid():
            return False
        sock = self.http.sock
        if sock is None:  # not opened yet, or closed after a "Connection: close" answer
            return True
        if time.monotonic() - self.used > IDLE_LIMIT:
            return False
        try:  # nothing is due on an idle connection: readable means the server closed it
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def set_timeout(self, timeout: float | None) -> None:
        self.http.timeout = timeout
        if self.http.sock is not None:
            self.http.sock.settimeout(timeout)

    def close(self) -> None:
        if self.pid == os.getpid():
            self.http.close()
        # a connection made before a fork is the parent's: the child only forgets it


class KeepAlive:
    """The transport: a kept-alive connection per thread, made again when it cannot be trusted."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _connection(self, scheme: str, netloc: str, timeout: float | None) -> _Connection:
        conn: _Connection | None = getattr(self._local, "conn", None)
        if conn is not None and not conn.usable((scheme, netloc)):
            conn.close()
            conn = None
        if conn is None:
            conn = self._local.conn = _Connection(scheme, netloc, timeout)
        conn.set_timeout(timeout)
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def request(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                timeout: float | None) -> _Answer:
        """Send one request; a non-2xx answer raises python_http_client's HTTPError for it."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise URLError(f"unsupported URL scheme {parts.scheme!r}")
        conn = self._connection(parts.scheme, parts.netloc, timeout)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            conn.http.request(method, target or "/", body=body, headers=headers)
        except (OSError, http.client.HTTPException) as exc:
            # Connecting or writing failed: the server has no whole request.
            self.close()
            raise URLError(exc) from exc
        except BaseException:  # e.g. Celery's soft time limit mid-write: the connection is unusable
            self.close()
            raise
        try:
            response = conn.http.getresponse()
            data = response.read()
        except BaseException:
            # The request was written; whether it was acted on is unknown. Raised
            # as it is, never retried here (the module docstring says why).
            self.close()
            raise
        conn.used = time.monotonic()
        if response.will_close:
            self.close()
        if not 200 <= response.status < 300:
            error = HTTPError(url, response.status, response.reason, response.headers, BytesIO(data))
            raise handle_error(error)
        return _Answer(response.status, response.headers, data)


class KeepAliveClient(python_http_client.Client):
    """python_http_client.Client whose requests go through a KeepAlive transport.

    `client.mail.send` builds a new Client per path segment (_build_client); each
    carries the same transport, so every request of this client shares it.
    """

    def __init__(self, *args: Any, transport: KeepAlive | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.transport = transport or KeepAlive()

    def _build_client(self, name: str | None = None) -> KeepAliveClient:
        url_path = self._url_path + [name] if name else self._url_path
        return KeepAliveClient(host=self.host, version=self._version, request_headers=self.request_headers,
                               url_path=url_path, append_slash=self.append_slash, timeout=self.timeout,
                               transport=self.transport)

    def _make_request(self, opener: Any, request: Any, timeout: float | None = None) -> _Answer:
        # The opener urllib built is not used: the request goes out on the kept connection.
        return self.transport.request(request.get_method(), request.full_url, dict(request.header_items()),
                                      request.data, timeout or self.timeout)


def keep_alive(client: python_http_client.Client) -> KeepAliveClient:
    """The same client (host, version, headers, timeout) on a kept-alive transport."""
    return KeepAliveClient(host=client.host, request_headers=client.request_headers, version=client._version,
                           url_path=client._url_path, append_slash=client.append_slash, timeout=client.timeout)
