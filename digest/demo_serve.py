"""`digest demo --serve`: the demo's data kept alive for a newcomer to click through.

After the demo has collected and sent, this runs what production runs, on
loopback: the web process (in this process, on BASE_URL's port, so the links in
the outbox's messages open here), a Celery worker and beat (child processes,
with the demo's Redis, key and outbox), and prints where to look. Ctrl-C (or
SIGTERM) stops all of it; the demo's Redis goes with this process.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import click

from digest.config import Settings
from digest.deliver.ledger import Ledger
from digest.errors import ConfigError
from digest.links import make_token
from digest.ops import queues
from digest.store import Store

DEMO_ADMIN = "admin@demo.example"


def _child_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "SENDGRID_"))}
    env.update({
        "REDIS_URL": settings.redis_url or "", "REDIS_PREFIX": settings.redis_prefix,
        "SECRET_KEY": settings.require_secret_key(), "OUTBOX_DIR": str(settings.outbox_dir),
        "FETCH_ALLOW_NETWORKS": settings.fetch_allow_networks, "BASE_URL": settings.base_url,
    })
    return env


def _demo_admin(store: Store) -> str:
    """The demo's admin account, with a new random password each run (printed, for the newcomer to sign in)."""
    from digest.editors.accounts import create_account, set_password

    password = secrets.token_urlsafe(12)
    if store.find_account(DEMO_ADMIN):
        set_password(store, DEMO_ADMIN, password)
    else:
        create_account(store, DEMO_ADMIN, password, role="admin")
    return password


def serve_demo(settings: Settings, store: Store, output: Path) -> None:
    from werkzeug.serving import make_server

    from digest.web import create_app

    base = urlsplit(settings.base_url)
    if base.hostname not in ("127.0.0.1", "localhost") or not base.port:
        raise ConfigError(f"digest demo --serve serves on loopback: BASE_URL must be http://127.0.0.1:PORT "
                          f"(it is {settings.base_url})")
    password = _demo_admin(store)
    try:
        web = make_server("127.0.0.1", base.port, create_app(settings), threaded=True)
    except OSError as exc:
        raise ConfigError(f"cannot serve on port {base.port} ({exc}): set BASE_URL=http://127.0.0.1:OTHER_PORT "
                          f"and run the demo again") from None
    env = _child_env(settings)
    logs = output / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    children = [
        subprocess.Popen([sys.executable, "-m", "celery", "-A", "digest.celery_app", *args],
                         env=env, stdout=(logs / f"{name}.log").open("ab"), stderr=subprocess.STDOUT,
                         start_new_session=True)
        for name, args in (
            ("worker", ["worker", "--queues", ",".join(queues.ALL_QUEUES), "--concurrency", "2",
                        "--loglevel", "INFO"]),
            ("beat", ["beat", "--loglevel", "INFO"]),  # its schedule lives in Redis (celery-redbeat)
        )
    ]
    thread = threading.Thread(target=web.serve_forever, daemon=True)
    thread.start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    url = settings.base_url
    alice = make_token(settings, "weekly", "alice@example.com")
    sent = (Ledger(store).issues("weekly") or [""])[-1]
    click.echo(f"""
serving on {url} (web here; worker and beat logs in {logs}/), Ctrl-C stops everything
  editors' pages:                 {url}/login   (email {DEMO_ADMIN}, password {password}); the
                                  preview shows the next issue once new articles come in
  the issue just sent:            {url}/archive/weekly/{sent}
  past issues:                    {url}/archive/weekly
  subscribe form:                 {url}/s/weekly
  Alice's preferences:            {url}/p/{alice}
  Alice's unsubscribe page:       {url}/u/{alice}
  the links in {settings.outbox_dir}/ open here too""", nl=True)
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            dead = [c for c in children if c.poll() is not None]
            if dead:
                click.echo(f"a child process stopped (exit {dead[0].returncode}); see {logs}/", err=True)
                break
    finally:
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for child in children:
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        web.shutdown()
        click.echo("stopped")
