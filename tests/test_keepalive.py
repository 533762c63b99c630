"""The sendgrid client's kept-alive connection (digest/deliver/keepalive.py), against real sockets.

The stub (tests/sendgrid_server.py) checks every body against SendGrid's schema; the
bare servers below misbehave as a real server or network can: closing a kept
connection while it is idle, closing it with a request unanswered, never answering.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from digest.deliver import keepalive
from digest.deliver.base import Envelope, Recipient
from digest.deliver.sendgrid import SendGridSender
from digest.errors import TransportError
from tests.sendgrid_server import SendGridStub


def envelope(*emails: str) -> Envelope:
    return Envelope(subject="Hello", html="<p>hi</p>", text="hi\n", from_email="news@planet.example",
                    from_name="Planet", reply_to=None, headers={},
                    recipients=[Recipient(e, "", {}, {}) for e in emails],
                    custom_args={"list": "weekly", "issue": "weekly-1", "batch": "000000"}, categories=["digest"])


def test_requests_share_one_connection_and_go_through_the_official_client():
    with SendGridStub() as stub:
        sender = SendGridSender("SG.key", host=stub.url, timeout=5)
        for i in range(5):
            sender.send(envelope(f"reader{i}@example.com"))
    assert stub.invalid == []  # each body still checked against SendGrid's schema
    assert stub.auth == {"Bearer SG.key"}
    assert sorted(stub.recipients) == [f"reader{i}@example.com" for i in range(5)]
    assert stub.connections == 1


def test_an_error_status_is_classified_as_before_and_the_connection_kept():
    with SendGridStub() as stub:
        stub.behaviour.script = [400, 429, 401]
        sender = SendGridSender("SG.key", host=stub.url, timeout=5)
        with pytest.raises(TransportError) as bad:
            sender.send(envelope("a@example.com"))
        assert bad.value.permanent and bad.value.status == 400 and "scripted 400" in str(bad.value)
        with pytest.raises(TransportError) as limited:
            sender.send(envelope("a@example.com"))
        assert limited.value.status == 429 and limited.value.retry_after is not None
        with pytest.raises(TransportError) as refused:
            sender.send(envelope("a@example.com"))
        assert refused.value.halt
        sender.send(envelope("a@example.com"))
    assert list(stub.recipients) == ["a@example.com"]
    assert stub.connections == 1


class BareServer:
    """An HTTP/1.1 server on a raw socket; `mode` says what it does with each request:
    "answer" (202, keep the connection), "answer-then-close" (202, then close without
    saying so), "close" (read the request, close unanswered), "hang" (read it, never answer)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.requests = 0
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            self.open.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return
                    head += line
                lines = head.split(b"\r\n")
                length = next(int(h.split(b":")[1]) for h in lines if h.lower().startswith(b"content-length"))
                reader.read(length)
                self.requests += 1
                if self.mode == "hang":
                    time.sleep(30)
                    return
                if self.mode == "close":
                    return
                conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                if self.mode == "answer-then-close":
                    return
        except OSError:
            return
        finally:
            reader.close()
            conn.close()

    def close(self) -> None:
        self.listener.close()
        for conn in self.open:
            conn.close()


@contextmanager
def bare(mode: str) -> Iterator[BareServer]:
    server = BareServer(mode)
    try:
        yield server
    finally:
        server.close()


def test_a_connection_the_server_closed_while_idle_is_replaced_before_the_next_request():
    with bare("answer-then-close") as server:
        sender = SendGridSender("SG.key", host=server.url, timeout=5)
        for _ in range(3):
            sender.send(envelope("a@example.com"))
            time.sleep(0.1)  # the server's close reaches us
    assert server.requests == 3 and server.connections == 3


def test_a_connection_idle_too_long_is_not_trusted(monkeypatch):
    with bare("answer") as server:
        sender = SendGridSender("SG.key", host=server.url, timeout=5)
        sender.send(envelope("a@example.com"))
        sender.send(envelope("a@example.com"))
        assert server.connections == 1
        monkeypatch.setattr(keepalive, "IDLE_LIMIT", 0.0)
        time.sleep(0.01)
        sender.send(envelope("a@example.com"))
    assert server.requests == 3 and server.connections == 2


def test_a_request_whose_connection_broke_unanswered_is_unknown_and_never_posted_again():
    with bare("close") as server:
        sender = SendGridSender("SG.key", host=server.url, timeout=5)
        with pytest.raises(TransportError) as broke:
            sender.send(envelope("a@example.com"))
        assert broke.value.ambiguous  # the ledger's unconfirmed path
        assert server.requests == 1  # posted once, not again on a new connection
        server.mode = "answer"  # the next request finds a fresh connection
        sender.send(envelope("b@example.com"))
    assert server.requests == 2 and server.connections == 2


def test_the_timeout_holds_and_an_unanswered_request_is_unknown():
    with bare("hang") as server:
        sender = SendGridSender("SG.key", host=server.url, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(TransportError) as slow:
            sender.send(envelope("a@example.com"))
        assert time.monotonic() - started < 2
        assert slow.value.ambiguous and "no answer" in str(slow.value)
        assert server.requests == 1


def test_a_refused_connection_is_safe_to_retry():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
    sender = SendGridSender("SG.key", host=f"http://127.0.0.1:{port}", timeout=1)  # nobody listens there now
    with pytest.raises(TransportError) as refused:
        sender.send(envelope("a@example.com"))
    assert not refused.value.ambiguous and "unreachable" in str(refused.value)
