"""A loopback SendGrid sink for benchmarks: accepts /v3/mail/send, counts recipients.

Runs in its own process so its parsing does not share a GIL with the sender (it
still shares the machine's cores: its CPU is counted in the benchmark's totals).
It pulls addresses out with one regex instead of parsing the whole JSON body:
both the floor and digest post bodies of the same layout, so neither is favoured,
but digest's are ~5x larger (each reader's substitutions and List-Unsubscribe
header), so the sink spends more on them: that is digest's cost. Both keep their
connections open (HTTP/1.1), digest one per sender pool process.

    python bench/sink.py PORT_FILE     serve on a free loopback port, write the port to PORT_FILE
    GET  /stats                        {"requests", "recipients", "bytes", "unique", "duplicates"}
    POST /reset                        forget everything
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TO = re.compile(rb'"to":\s*\[\{"email":\s*"([^"]+)"')
lock = threading.Lock()
seen: Counter[bytes] = Counter()
stats = {"requests": 0, "recipients": 0, "bytes": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self, status: int, body: bytes = b"") -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/reset":
            with lock:
                seen.clear()
                stats.update(requests=0, recipients=0, bytes=0)
            return self._reply(200)
        emails = TO.findall(body)
        with lock:
            stats["requests"] += 1
            stats["recipients"] += len(emails)
            stats["bytes"] += len(body)
            seen.update(emails)
        self._reply(202)

    def do_GET(self) -> None:
        with lock:
            payload = {**stats, "unique": len(seen), "duplicates": sum(1 for n in seen.values() if n > 1)}
        self._reply(200, json.dumps(payload).encode())


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    Path(sys.argv[1]).write_text(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
