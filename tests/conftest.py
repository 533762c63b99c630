"""Fixtures that read like the domain: a real Redis, a store, a list and its subscribers.

The tests start their own Redis (as `digest demo` does) unless REDIS_URL answers.
Each test gets its own key prefix, so tests never see each other's data and we
never flush a Redis we did not start.
"""

from __future__ import annotations

import os
import secrets
import uuid
from pathlib import Path

import pytest

from digest.config import LOOPBACK_NETWORKS, Settings
from digest.models import DigestList, Feed, Topic
from digest.redis_server import ensure_redis
from digest.store import Store

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TEST_SECRET = secrets.token_urlsafe(32)  # a new one every run, as an operator would make


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url, _server = ensure_redis(os.environ.get("REDIS_URL"), tmp_path_factory.mktemp("redis"))
    return url


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def settings(redis_url: str, prefix: str, tmp_path: Path) -> Settings:
    return Settings(
        redis_url=redis_url,
        redis_prefix=prefix,
        data_dir=tmp_path / "var",
        outbox_dir=tmp_path / "outbox",
        base_url="https://digest.example",
        secret_key=TEST_SECRET,  # type: ignore[arg-type]
        sendgrid_api_key=None,
        fetch_allow_networks=LOOPBACK_NETWORKS,  # the loopback feed servers of the tests
        per_host_delay=0.0,  # every test feed is on 127.0.0.1; tests/test_politeness.py sets its own
    )


@pytest.fixture
def store(settings: Settings) -> Store:
    s = Store.from_url(settings.redis_url or "", settings.redis_prefix)
    yield s
    keys = list(s.r.scan_iter(f"{settings.redis_prefix}:*", count=1000))
    for i in range(0, len(keys), 1000):
        s.r.delete(*keys[i : i + 1000])


@pytest.fixture
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is not beside the checkout")
    return SHARED


@pytest.fixture
def topics() -> list[Topic]:
    return [
        Topic(slug="climate", name="Climate", keywords=["climate", "emissions", "warming"]),
        Topic(slug="markets", name="Markets", keywords=["stocks", "inflation", "market"]),
        Topic(slug="space", name="Space", keywords=["nasa", "rocket", "orbit", "mars"]),
    ]


@pytest.fixture
def weekly(store: Store, topics: list[Topic]) -> DigestList:
    """The Weekly Planet: an English list with three topics."""
    lst = DigestList(
        slug="weekly", name="The Weekly Planet", from_email="news@planet.example",
        from_name="The Weekly Planet", description="you signed up at planet.example", topics=topics,
        postal_address="Planet Media, 1 Orbit Road, Springfield, IL 62701, USA",
    )
    store.add_list(lst)
    return lst


@pytest.fixture
def a_feed(store: Store) -> Feed:
    feed = Feed(id="planet", url="http://127.0.0.1:9/feed.xml", name="Planet News")
    store.add_feed(feed)
    return feed


@pytest.fixture
def server():  # type: ignore[no-untyped-def]
    """A loopback feed server (tests/feedserver.py); each test sets its routes."""
    from tests.feedserver import FeedServer

    s = FeedServer()
    yield s
    s.close()


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    """Headless Chromium (Debian's, see tests/test_web_browser.py), for the pages and emails."""
    from playwright.sync_api import sync_playwright

    from tests.test_web_browser import ARGS, CHROMIUM

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def client(settings, store):  # type: ignore[no-untyped-def]
    """The web app in this process (Flask's test client), on the test's Redis."""
    from digest.web import create_app

    app = create_app(settings)
    app.testing = True
    return app.test_client()


@pytest.fixture
def run(settings):  # type: ignore[no-untyped-def]
    """The `digest` command line in its own process, with the test's settings (and any extra
    environment variables): what an operator types."""
    import subprocess
    import sys

    from tests.workers import worker_env

    env = worker_env(settings)

    def _run(*args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", "from digest.cli import main; main()", *args],
                              env={**env, **extra_env}, capture_output=True, text=True, timeout=60)
    return _run
