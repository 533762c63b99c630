"""The collector's network guard: only public addresses, and every fetch within its deadline.

A feed URL is whatever someone typed (or whatever a feed redirects to), so the
collector must not become a way to reach this machine, its private network or the
cloud metadata service, nor a port scanner. The checks live where the connection
is made, not on the URL's text, because a host can be spelled in many ways
(`localhost`, `2130706433`, `0x7f.1`, `127.1`, `[::ffff:127.0.0.1]`, a DNS name
pointing at 10.0.0.1, ...):

- `GuardedBackend.connect_tcp` resolves the host once with `getaddrinfo`, within
  the fetch's deadline, refuses when any resolved address is not public (or in
  `FETCH_ALLOW_NETWORKS`), and then connects to the vetted IP itself. No second lookup happens, so a DNS answer that
  changes between check and connect (rebinding) cannot slip through. httpcore
  hands TLS the origin's hostname separately (`start_tls(server_hostname=...)`),
  so SNI and certificate checks still use the name, not the IP.
- A refused address raises `Refused` before any socket is opened: a closed and an
  open private port look the same (the connection is never attempted).
- `GuardedTransport` (an `httpx.BaseTransport` over an httpcore `ConnectionPool`
  built with that backend) checks each request's URL too, redirect hops
  included: http and https only, no `user:pass@`.
- It hands redirects on with an empty body (httpx would read and decode a
  redirect's whole body, uncapped, before following it).
- `fetch_deadline(seconds)` sets a deadline for the current fetch; every DNS lookup,
  connect, TLS handshake, read and write of the guarded streams gets at most the time left,
  so a server dribbling its headers or body a byte at a time is cut at the
  deadline, not after one per-read timeout per byte.

Only public APIs are used: httpcore's network backends are public
(https://www.encode.io/httpcore/network-backends/), and httpx's transport API is
`BaseTransport.handle_request`. httpx 0.28's `HTTPTransport` takes no network
backend, hence the small transport here.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import queue
import re
import socket
import threading
import time
import typing
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# RFC 6052 well-known NAT64 prefix: the last 32 bits are the IPv4 address reached.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


AddressInfo = list[tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[typing.Any, ...]]]


class Refused(Exception):
    """A URL or address the collector must not fetch.

    Deliberately not an httpx/httpcore error, so nothing retries it or turns it
    into a network error: it reaches fetch_feed as it is.
    """


# -- addresses ------------------------------------------------------------------


def _embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, NAT64, 6to4, Teredo)."""
    if ip.version == 4:
        return []
    assert isinstance(ip, ipaddress.IPv6Address)
    found = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def _public(ip: IPAddress) -> bool:
    # is_global alone is not enough on every Python (3.11 calls 224.0.0.1 and
    # 64:ff9b::7f00:1 global), hence every property, on the address and on any
    # IPv4 address embedded in it.
    return ip.is_global and not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
        or ip.is_reserved or ip.is_unspecified or (ip.version == 6 and ip.is_site_local)
    )


def _within(ip: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def address_allowed(ip: IPAddress, allowed: Sequence[IPNetwork] = ()) -> bool:
    """May the collector connect to this address?

    Yes when it is inside an allowed network (an IPv4-mapped or NAT64 address counts
    as the IPv4 address it reaches), or when it and every IPv4 address embedded in it
    are public. Everything else (loopback, private, link-local with the metadata
    service, CGNAT, multicast, reserved, unspecified, ...) is refused.
    """
    embedded = _embedded_ipv4(ip)
    if _within(ip, allowed):
        return True
    if isinstance(ip, ipaddress.IPv6Address) and (ip.ipv4_mapped is not None or ip in _NAT64):
        if _within(embedded[0], allowed):
            return True
        # A mapped address is the IPv4 address on the wire: judge that one alone
        # (the ::ffff:0:0/96 block itself is not "global").
        if ip.ipv4_mapped is not None:
            return _public(ip.ipv4_mapped)
        return _public(embedded[0])  # NAT64: ::/8 is "reserved", the IPv4 side decides
    return _public(ip) and all(_public(v4) for v4 in embedded)


def _parse_ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")


# -- what readers' mail clients are sent to ---------------------------------------

# Names that only ever resolve inside a network (RFC 6761, 6762, 8375; .internal, .lan by use).
LOCAL_NAME_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".lan")


@functools.lru_cache(maxsize=4096)
def readers_may_load(url: str, allowed: tuple[IPNetwork, ...] = ()) -> bool:
    """May an email send readers' mail clients to `url` (an http(s) URL), as they load its images?

    Not when its host is in the reader's own network: an image at http://192.168.0.1/...
    or http://router/... would make each reader's mail client request a page of their
    router or printer, chosen by a feed's publisher. The reader's network cannot be
    resolved from here, so only the URL is judged: an IP literal, in any spelling a
    browser takes (127.1, 0x7f.1, 2130706433, [::ffff:10.0.0.1]), as address_allowed
    judges the collector's connections (`allowed`: FETCH_ALLOW_NETWORKS, whose pages
    the operator serves); a name, unless it is one that only resolves inside a network
    (localhost, *.local, ..., or a single label such as "router").
    """
    try:
        host = (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return False
    if not host:
        return False
    try:
        return address_allowed(_parse_ip(host), allowed)
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(host):
        try:  # inet_aton reads the shorthand spellings browsers accept
            return address_allowed(ipaddress.IPv4Address(socket.inet_aton(host)), allowed)
        except OSError:
            pass  # a name of hex letters, such as cafe.be
    return "." in host and host != "localhost" and not host.endswith(LOCAL_NAME_SUFFIXES)


_NUMERIC_HOST = re.compile(r"[0-9a-fx.]+")


# -- URLs -----------------------------------------------------------------------


def check_url(url: httpx.URL) -> None:
    """Refused unless http(s), with a host and no credentials."""
    if url.scheme not in ("http", "https"):
        raise Refused(f"only http and https URLs are fetched, not {url.scheme or 'a relative URL'}")
    if url.userinfo:
        raise Refused("URLs with a user name or password (user:pass@) are not fetched")
    if not url.host:
        raise Refused("the URL has no host")


# -- the deadline ---------------------------------------------------------------

_deadline: ContextVar[float | None] = ContextVar("digest_fetch_deadline", default=None)


class Deadline:
    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.at = None if seconds is None else time.monotonic() + seconds

    def expired(self) -> bool:
        return self.at is not None and time.monotonic() >= self.at


@contextlib.contextmanager
def fetch_deadline(seconds: float | None) -> Iterator[Deadline]:
    """Every guarded network operation inside gets at most the time left until `seconds` from now."""
    deadline = Deadline(seconds)
    token = _deadline.set(deadline.at)
    try:
        yield deadline
    finally:
        _deadline.reset(token)


def _time_left(timeout: float | None, timed_out: type[httpcore.TimeoutException]) -> float | None:
    """The per-operation timeout, clamped to the current fetch's deadline."""
    at = _deadline.get()
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise timed_out("the fetch deadline has passed")
    return left if timeout is None else min(timeout, left)


# -- DNS ------------------------------------------------------------------------


class ResolveTimeout(httpcore.ConnectTimeout):
    """A DNS lookup that did not answer within the time the fetch had left."""

    def __init__(self, host: str, seconds: float) -> None:
        super().__init__(f"resolving {host!r} took longer than the {seconds:.3g} s left")
        self.host = host


def resolve_name(host: str, port: int) -> AddressInfo:
    """The one DNS lookup the collector makes for a connection (the system resolver's)."""
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def resolve_within(host: str, port: int, seconds: float | None) -> AddressInfo:
    """`resolve_name`, waited for at most `seconds` (None: as long as it takes); else ResolveTimeout.

    getaddrinfo takes no timeout, and a hostile domain's slow name servers would keep
    it for as long as the resolver retries (its timeout times its attempts times the
    name servers). So it runs in a thread of its own; past `seconds` the fetch goes on
    without it (and fails), and the thread, a daemon, ends when the resolver gives up.
    """
    if seconds is None:
        return resolve_name(host, port)
    answer: queue.SimpleQueue[tuple[AddressInfo | None, BaseException | None]] = queue.SimpleQueue()

    def lookup() -> None:
        try:
            answer.put((resolve_name(host, port), None))
        except BaseException as exc:  # handed to the waiting fetch, which raises it
            answer.put((None, exc))

    threading.Thread(target=lookup, name=f"resolve {host[:60]}", daemon=True).start()
    try:
        infos, error = answer.get(timeout=max(seconds, 0.0))
    except queue.Empty:
        raise ResolveTimeout(host, seconds) from None
    if error is not None:
        raise error
    assert infos is not None
    return infos


# -- the network backend --------------------------------------------------------


class GuardedStream(httpcore.NetworkStream):
    """A stream whose every operation ends by the fetch deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _time_left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: typing.Any, server_hostname: str | None = None, timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        # server_hostname is the URL's host (httpcore passes the origin's name, or
        # the sni_hostname extension), never the IP we connected to.
        inner = self._inner.start_tls(ssl_context, server_hostname, _time_left(timeout, httpcore.ConnectTimeout))
        return GuardedStream(inner)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, connecting only to vetted addresses, within the deadline."""

    def __init__(self, allowed: Sequence[IPNetwork] = (), inner: httpcore.NetworkBackend | None = None) -> None:
        self.allowed = tuple(allowed)
        self._inner = inner or httpcore.SyncBackend()

    def resolve(self, host: str, port: int, timeout: float | None = None) -> list[str]:
        """The addresses to connect to, all vetted; Refused if any is not allowed.

        All or nothing, rather than connecting to the allowed ones only: a name that
        resolves to both public and private addresses is a misconfiguration or a
        rebinding attempt, and skipping the private answers would make the outcome
        depend on answer order and leave a private address one DNS change away.

        The lookup gets at most `timeout` seconds (ResolveTimeout): the time the
        connection has left, so DNS counts against the fetch's deadline like the rest.
        """
        try:
            infos = resolve_within(host, port, timeout)
        except (OSError, UnicodeError, ValueError) as exc:
            # UnicodeError: a label over 63 characters and the like.
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from None
        addresses: list[str] = []
        for family, _type, _proto, _name, sockaddr in infos:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            ip = _parse_ip(str(sockaddr[0]))
            if not address_allowed(ip, self.allowed):
                shown = host if host == str(ip) else f"{host} ({ip})"
                raise Refused(f"{shown} is not a public address; fetching it is not allowed")
            text = str(ip)
            if family == socket.AF_INET6 and sockaddr[3]:  # an allowed scoped (link-local) address
                text = f"{text}%{sockaddr[3]}"
            if text not in addresses:
                addresses.append(text)
        if not addresses:
            raise httpcore.ConnectError(f"{host!r} has no IPv4 or IPv6 address")
        return addresses

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        # Already past the deadline: do not even resolve. Else the lookup gets what is left.
        left = _time_left(timeout, httpcore.ConnectTimeout)
        last: Exception | None = None
        for address in self.resolve(host, port, left):
            try:
                # The inner backend gets an IP literal, so it does no lookup of its own.
                stream = self._inner.connect_tcp(
                    address, port, _time_left(timeout, httpcore.ConnectTimeout),
                    local_address=local_address, socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                last = exc
                continue
            return GuardedStream(stream)
        assert last is not None
        raise last

    def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise Refused("the collector does not connect to Unix sockets")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


# -- the transport --------------------------------------------------------------

# httpcore's exceptions as httpx's, most specific first (as httpx's own transport maps them).
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for core, mapped in _ERRORS:
            if isinstance(exc, core):
                raise mapped(str(exc)) from exc
        raise


class _Body(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            with _httpx_errors():
                close()


# The most of a redirect's body read (raw) so that its connection can be reused; beyond it, the connection is dropped.
REDIRECT_BODY_SKIP = 64 * 1024


def _is_redirect(response: httpcore.Response) -> bool:
    return response.status in (301, 302, 303, 307, 308) and any(
        k.lower() == b"location" for k, _ in response.headers)


def _skip_body(response: httpcore.Response) -> None:
    read = 0
    try:
        for chunk in typing.cast(Iterable[bytes], response.stream):
            read += len(chunk)
            if read > REDIRECT_BODY_SKIP:
                break
    finally:
        response.close()


class GuardedTransport(httpx.BaseTransport):
    """httpx's default transport, minus proxies, over a `GuardedBackend`."""

    def __init__(self, allowed: Sequence[IPNetwork] = (), *, limits: httpx.Limits | None = None) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allowed),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        check_url(request.url)  # every hop: the client calls us once per redirect
        assert isinstance(request.stream, httpx.SyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme, host=request.url.raw_host,
                port=request.url.port, target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = self._pool.handle_request(core_request)
            assert isinstance(response.stream, Iterable)
            if _is_redirect(response):
                # httpx reads a redirect's whole body, decoded, before following it: no
                # cap, so a 301 with a gzip bomb for a body would fill memory. Nobody
                # reads it: it is skipped (a little of it, so the connection can be
                # reused) and the response handed on empty.
                _skip_body(response)
                return httpx.Response(
                    status_code=response.status, headers=[(k, v) for k, v in response.headers
                                                          if k.lower() != b"content-encoding"],
                    stream=httpx.ByteStream(b""), extensions=response.extensions,
                )
        return httpx.Response(
            status_code=response.status, headers=response.headers,
            stream=_Body(response.stream), extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()
