"""A loopback HTTP server for feeds: each test sets the routes it needs.

Also: `FeedServer(host=...)` binds another loopback address (127.0.0.2, ::1) and
counts every connection it accepts; `DribbleServer` answers a byte at a time.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    etag: str | None = None  # answer 304 when the client sends this back


class _CountingHTTPServer(ThreadingHTTPServer):
    """Counts accepted connections, so a test can tell "never connected" from "connected, no request"."""

    def __init__(self, address: tuple[str, int], handler: type, owner: FeedServer) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.owner = owner
        super().__init__(address, handler)

    def verify_request(self, request: object, client_address: object) -> bool:
        self.owner.connections += 1
        return True


class FeedServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.connections = 0
        self.host = host
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append((self.path, dict(self.headers)))
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                if route.delay:
                    time.sleep(route.delay)
                if route.etag and self.headers.get("If-None-Match") == route.etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(route.status)
                headers = {"Content-Length": str(len(route.body)), **route.headers}
                if route.etag:
                    headers["ETag"] = route.etag
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(route.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = _CountingHTTPServer((host, 0), Handler, self)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def url(self, path: str, host: str | None = None) -> str:
        """This server's URL for `path`; `host` spells the address another way (e.g. "127.1")."""
        host = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"http://{host}:{self.port}{path}"

    def route(self, path: str, body: bytes | str = b"", **kw: object) -> str:
        self.routes[path] = Route(body.encode() if isinstance(body, str) else body, **kw)  # type: ignore[arg-type]
        return self.url(path)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class DribbleServer:
    """A raw HTTP server that answers slowly: `head` then `body`, `chunk` bytes every `interval` s.

    Each connection's request is recorded; every loop stops after `max_seconds`, when
    the client goes away, or at close(), so no test can hang on it.
    """

    def __init__(
        self, head: bytes, body: bytes = b"", *, chunk: int = 1, interval: float = 0.2,
        head_at_once: bool = False, max_seconds: float = 10.0,
    ) -> None:
        self.head, self.body, self.chunk, self.interval = head, body, chunk, interval
        self.head_at_once, self.max_seconds = head_at_once, max_seconds
        self.requests: list[bytes] = []
        self.sent = 0
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str = "/feed") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set() and time.monotonic() - started < self.max_seconds * 3:
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        until = time.monotonic() + self.max_seconds
        conn.settimeout(0.5)
        with conn:
            request = b""
            try:
                while b"\r\n\r\n" not in request and time.monotonic() < until:
                    data = conn.recv(4096)
                    if not data:
                        return
                    request += data
            except OSError:
                return
            self.requests.append(request)
            pieces = [self.head] if self.head_at_once else _cut(self.head, self.chunk)
            pieces += _cut(self.body, self.chunk)
            for i, piece in enumerate(pieces):
                if self._stop.is_set() or time.monotonic() > until:
                    return
                if i:
                    time.sleep(self.interval)
                try:
                    conn.sendall(piece)
                except OSError:
                    return
                self.sent += len(piece)

    def close(self) -> None:
        self._stop.set()
        self._sock.close()


def _cut(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]
