"""A loopback stand-in for SendGrid's /v3/mail/send.

It checks every request body against SendGrid's official request schema
(../shared/sendgrid/mail_send_post_resolved.json, when present), records every
recipient it accepts, and can answer with failures on demand: a scripted list of
statuses, or random 429s and 500s at set rates.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "sendgrid" / "mail_send_post_resolved.json"


def load_validator() -> Any | None:
    if not SCHEMA.exists():
        return None
    import jsonschema

    schema = json.loads(SCHEMA.read_text())["requestBody"]["content"]["application/json"]["schema"]
    # The spec types top-level custom_args as a string; the live API takes an
    # object of string values (noted in ../shared/README.md).
    schema["properties"]["custom_args"] = {"type": "object", "additionalProperties": {"type": "string"}}
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@dataclass
class Behaviour:
    script: list[int] = field(default_factory=list)  # statuses to answer first, in order
    rate_429: float = 0.0
    rate_500: float = 0.0
    reset_in: float = 0.2  # X-RateLimit-Reset, seconds from now
    delay: float = 0.0
    seed: int = 7


class SendGridStub:
    def __init__(self, behaviour: Behaviour | None = None, validate: bool = True) -> None:
        self.behaviour = behaviour or Behaviour()
        self.validator = load_validator() if validate else None
        self.lock = threading.Lock()
        self.rng = random.Random(self.behaviour.seed)
        self.recipients: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []  # accepted bodies
        self.statuses: Counter[int] = Counter()
        self.invalid: list[str] = []
        self.auth: set[str] = set()
        self.arrived = 0  # requests received, counted before any delay
        self.connections = 0  # connections accepted (the sender keeps one open)
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keeps connections open, as SendGrid does

            def setup(self) -> None:
                super().setup()
                with stub.lock:
                    stub.connections += 1

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, payload, headers = stub.handle(self.path, self.headers.get("Authorization", ""), body)
                data = json.dumps(payload).encode() if payload else b""
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> SendGridStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, path: str, auth: str, body: bytes) -> tuple[int, Any, dict[str, str]]:
        b = self.behaviour
        with self.lock:
            self.arrived += 1
        if b.delay:
            time.sleep(b.delay)
        with self.lock:
            self.auth.add(auth)
            if path != "/v3/mail/send":
                return self._answer(404, {"errors": [{"message": f"no route {path}"}]})
            if b.script:
                status = b.script.pop(0)
                if status != 202:
                    return self._answer(status, {"errors": [{"message": f"scripted {status}", "field": None}]},
                                        {"X-RateLimit-Reset": str(int(time.time() + 1))} if status == 429 else {})
            roll = self.rng.random()
            if roll < b.rate_429:
                return self._answer(429, {"errors": [{"message": "too many requests"}]},
                                    {"X-RateLimit-Reset": f"{time.time() + b.reset_in:.3f}"})
            if roll < b.rate_429 + b.rate_500:
                return self._answer(500, {"errors": [{"message": "internal error"}]})
        try:
            message = json.loads(body)
        except ValueError as exc:
            return self._answer(400, {"errors": [{"message": f"not JSON: {exc}"}]})
        if self.validator is not None:
            problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                        for e in self.validator.iter_errors(message)]
            if problems:
                with self.lock:
                    self.invalid.extend(problems)
                return self._answer(400, {"errors": [{"message": p} for p in problems[:5]]})
        with self.lock:
            self.requests.append(message)
            for p in message["personalizations"]:
                for to in p["to"]:
                    self.recipients[to["email"]] += 1
            self.statuses[202] += 1
        return 202, None, {}

    def _answer(
        self, status: int, payload: Any, headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        self.statuses[status] += 1
        return status, payload, headers or {}

    @property
    def duplicates(self) -> list[str]:
        return [e for e, n in self.recipients.items() if n > 1]
