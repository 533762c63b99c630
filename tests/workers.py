"""Real Celery worker processes for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from digest.config import Settings


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "SENDGRID_", "REDIS_"))}
    env.update({
        "REDIS_URL": settings.redis_url or "",
        "REDIS_PREFIX": settings.redis_prefix,
        "BASE_URL": settings.base_url,
        "SECRET_KEY": settings.require_secret_key(),
        "FETCH_ALLOW_NETWORKS": settings.fetch_allow_networks,
        "OUTBOX_DIR": str(settings.outbox_dir),
        "VISIBILITY_TIMEOUT": str(settings.visibility_timeout),
        "BATCH_SIZE": str(settings.batch_size),
        "SEND_RETRY_BASE": str(settings.send_retry_base),
        **extra,
    })
    return env


class Worker:
    """`celery worker` in its own process group, so SIGKILL takes its pool with it."""

    def __init__(self, env: dict[str, str], log: Path, name: str, concurrency: int = 2) -> None:
        self.env, self.log, self.name, self.concurrency = env, log, name, concurrency
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "digest.celery_app", "worker",
             "--queues", "celery,send", "--concurrency", str(self.concurrency), "--pool", "prefork",
             "--hostname", f"{self.name}@%h", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "--loglevel", "INFO"],
            env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_for(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
