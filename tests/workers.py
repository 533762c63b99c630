"""Real Celery worker and beat processes for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from digest.config import Settings
from digest.ops.queues import ALL_QUEUES


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "SENDGRID_", "REDIS_"))}
    env.update({
        "REDIS_URL": settings.redis_url or "",
        "CELERY_BROKER_URL": settings.celery_broker_url or "",  # empty: the store's Redis
        "CELERY_QUEUE_TYPE": settings.celery_queue_type,
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
    """`celery worker` in its own process group, so SIGKILL takes its pool with it.
    By default it consumes every queue (the Procfile's `worker` and `sender` in one)."""

    def __init__(self, env: dict[str, str], log: Path, name: str, concurrency: int = 2,
                 queues: tuple[str, ...] = ALL_QUEUES) -> None:
        self.env, self.log, self.name, self.concurrency, self.queues = env, log, name, concurrency, queues
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "digest.celery_app", "worker",
             "--queues", ",".join(self.queues), "--concurrency", str(self.concurrency), "--pool", "prefork",
             "--hostname", f"{self.name}@%h", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "--loglevel", "INFO"],
            env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        return self

    def kill(self) -> None:
        """SIGKILL to the whole process group: the main process and its pool."""
        if self.proc:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def terminate(self) -> None:
        """SIGTERM to the main process only, as an orchestrator sends it: a warm shutdown."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 15) -> None:
        if self.proc and self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()  # the pool too, had anything outlived the main process


class Beat:
    """`celery beat` in its own process group (the scheduler is the app's: redbeat)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Beat:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "digest.celery_app", "beat", "--loglevel", "INFO"],
            env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def stop(self, timeout: float = 15) -> int | None:
        """SIGTERM; the exit status, or None if it had to be killed."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def wait_for(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
