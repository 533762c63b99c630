"""No process signs or reads readers' links with a key anyone could know."""

from __future__ import annotations

import subprocess
import sys

import pytest

from digest.config import ConfigError, load_settings
from digest.links import TokenSigner
from tests.workers import worker_env


@pytest.mark.parametrize("value", ["change-me-in-production", "secret", "too-short"])
def test_published_or_short_keys_are_refused_by_name(value):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings(secret_key=value)


def test_nothing_signs_without_a_key(settings):
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        TokenSigner(settings.model_copy(update={"secret_key": None}))


@pytest.mark.slow
def test_a_worker_refuses_to_start_without_a_key(settings, tmp_path):
    env = {k: v for k, v in worker_env(settings).items() if k != "SECRET_KEY"}
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "digest.celery_app", "worker", "--queues", "celery,send",
         "--concurrency", "1", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    assert "SECRET_KEY is not set" in done.stderr + done.stdout
