"""A three-master Redis Cluster on loopback, from the same redis-server binary the tests use.

Each node is a `redis-server --cluster-enabled yes` child; the slots are dealt out
with CLUSTER ADDSLOTSRANGE and the nodes introduced with CLUSTER MEET (what
`redis-cli --cluster create` does, without needing redis-cli).
"""

from __future__ import annotations

import contextlib
import random
import socket
import subprocess
import time
from pathlib import Path

import redis

from digest.redis_server import server_binary

SLOTS = 16384


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _cluster_port() -> int:
    """A port free with its cluster bus port (port + 10000) free too."""
    for _ in range(200):
        port = random.randint(20000, 50000)
        if _free(port) and _free(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


class LocalCluster:
    def __init__(self, data_dir: Path, masters: int = 3) -> None:
        self.data_dir, self.masters = data_dir, masters
        self.ports: list[int] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        """The store's URL: any node, as digest's settings take a cluster (store/base.py)."""
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def start(self, timeout: float = 30.0) -> LocalCluster:
        for i in range(self.masters):
            node_dir = self.data_dir / f"node{i}"
            node_dir.mkdir(parents=True, exist_ok=True)
            port = _cluster_port()
            self.ports.append(port)
            self.processes.append(subprocess.Popen(
                [server_binary(), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(node_dir.resolve()),
                 "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000",
                 "--save", "", "--appendonly", "no", "--logfile", str((node_dir / "redis.log").resolve())],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        clients = [redis.Redis(port=p, socket_timeout=5) for p in self.ports]
        deadline = time.monotonic() + timeout
        for client in clients:
            while True:
                with contextlib.suppress(redis.ConnectionError):
                    if client.ping():
                        break
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("a cluster node did not start")
                time.sleep(0.05)
        share = SLOTS // self.masters
        for i, client in enumerate(clients):
            last = SLOTS - 1 if i == self.masters - 1 else (i + 1) * share - 1
            client.execute_command("CLUSTER ADDSLOTSRANGE", i * share, last)
        for port in self.ports[1:]:
            clients[0].execute_command("CLUSTER MEET", "127.0.0.1", port)
        while not all(self._ready(c.execute_command("CLUSTER INFO")) for c in clients):
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the cluster did not come up")
            time.sleep(0.1)
        for client in clients:
            client.close()
        return self

    def _ready(self, info: dict[str, str]) -> bool:
        return str(info.get("cluster_state")) == "ok" and int(info.get("cluster_known_nodes", 0)) == self.masters

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)
            if process.poll() is None:
                process.kill()
