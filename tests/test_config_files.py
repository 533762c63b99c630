"""Settings at start-up: secrets from files (NAME_FILE), and a clear message per bad setting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from digest.config import ConfigError, load_settings
from tests.workers import worker_env

KEY = "k" * 20 + "-from-a-file"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean environment and working directory (no .env, no secret from the test run)."""
    monkeypatch.chdir(tmp_path)
    for name in ("SECRET_KEY", "SECRET_KEY_FILE", "SENDGRID_API_KEY", "SENDGRID_API_KEY_FILE", "METRICS_TOKEN",
                 "REDIS_URL", "REDIS_URL_FILE", "CELERY_BROKER_URL", "EDITOR_CREDENTIAL", "LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_a_secret_comes_from_its_file_less_the_trailing_newline(env, tmp_path: Path):
    (tmp_path / "key").write_text(KEY + "\n")
    (tmp_path / "sg").write_text("SG.abc.def")  # no newline: taken as it is
    (tmp_path / "redis").write_text("redis://:pw@127.0.0.1:6399/2\r\n")
    env.setenv("SECRET_KEY_FILE", str(tmp_path / "key"))
    env.setenv("SENDGRID_API_KEY_FILE", str(tmp_path / "sg"))
    env.setenv("REDIS_URL_FILE", str(tmp_path / "redis"))
    settings = load_settings()
    assert settings.require_secret_key() == KEY
    assert settings.sendgrid_api_key.get_secret_value() == "SG.abc.def"
    assert settings.redis_url == "redis://:pw@127.0.0.1:6399/2"


def test_a_file_named_in_dotenv_works_too(env, tmp_path: Path):
    (tmp_path / "key").write_text(KEY)
    (tmp_path / ".env").write_text(f"SECRET_KEY_FILE={tmp_path / 'key'}\n")
    assert load_settings().require_secret_key() == KEY


def test_the_value_and_its_file_together_are_refused(env, tmp_path: Path):
    (tmp_path / "key").write_text(KEY)
    env.setenv("SECRET_KEY", "x" * 30)
    env.setenv("SECRET_KEY_FILE", str(tmp_path / "key"))
    with pytest.raises(ConfigError, match="SECRET_KEY and SECRET_KEY_FILE are both set"):
        load_settings()


@pytest.mark.parametrize("make, why", [
    (lambda d: d / "absent", "cannot read .*absent: No such file"),
    (lambda d: d, "cannot read"),  # a directory
    (lambda d: _write(d / "empty", ""), "is empty"),
    (lambda d: _write(d / "big", "x" * 70_000), "larger than"),
    (lambda d: Path("/dev/zero"), "larger than"),  # never read to its end
    (lambda d: _write_bytes(d / "latin", b"caf\xe9-secret-value"), "not UTF-8"),
])
def test_a_file_that_cannot_be_read_names_the_variable_not_the_content(env, tmp_path: Path, make, why):
    env.setenv("SENDGRID_API_KEY_FILE", str(make(tmp_path)))
    with pytest.raises(ConfigError, match=f"^SENDGRID_API_KEY_FILE: .*{why}") as caught:
        load_settings()
    assert "xxxx" not in str(caught.value) and "secret-value" not in str(caught.value)


def test_a_bad_secret_from_a_file_is_named_and_not_shown(env, tmp_path: Path):
    env.setenv("SECRET_KEY_FILE", str(_write(tmp_path / "key", "too-short\n")))
    env.setenv("EDITOR_CREDENTIAL", "editor-without-password")
    env.setenv("BATCH_SIZE", "5000")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    lines = message.splitlines()
    assert lines[0] == "invalid settings:" and len(lines) == 4  # one line per bad setting
    assert any(x.strip().startswith("SECRET_KEY: must be at least 16 characters") for x in lines)
    assert any(x.strip().startswith("EDITOR_CREDENTIAL: must be USER:PASSWORD") for x in lines)
    assert "BATCH_SIZE: Input should be less than or equal to 1000 (got '5000')" in message
    assert "too-short" not in message and "editor-without-password" not in message


def test_operations_settings_are_checked(env):
    env.setenv("LOG_FORMAT", "JSON")
    assert load_settings().log_format == "json"
    env.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        load_settings()
    env.delenv("LOG_FORMAT")
    env.setenv("METRICS_TOKEN", "short")
    with pytest.raises(ConfigError, match="METRICS_TOKEN: must be 16 or more") as caught:
        load_settings()
    assert "short" not in str(caught.value).split("must")[1]
    env.setenv("REDIS_URL", "garbage://:hunter2-pw@host")
    with pytest.raises(ConfigError, match="REDIS_URL: must be a Redis URL") as caught:
        load_settings()
    assert "hunter2-pw" not in str(caught.value)


def test_the_command_line_and_a_worker_say_what_is_wrong(settings, run, tmp_path: Path):
    missing = str(tmp_path / "nope")
    r = run("lists", "ls", SECRET_KEY="", SECRET_KEY_FILE=missing)
    assert r.returncode == 1 and f"SECRET_KEY_FILE: cannot read {missing}" in r.stderr
    assert "Traceback" not in r.stderr

    env = {**worker_env(settings), "SECRET_KEY": "", "SECRET_KEY_FILE": missing}
    worker = subprocess.run([sys.executable, "-m", "celery", "-A", "digest.celery_app", "worker", "--pool", "solo"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert worker.returncode != 0 and f"SECRET_KEY_FILE: cannot read {missing}" in worker.stdout + worker.stderr
    assert "Traceback" not in worker.stdout + worker.stderr  # one line naming the setting


def test_the_web_process_says_what_is_wrong_without_a_traceback(settings):
    env = {**worker_env(settings), "BATCH_SIZE": "0"}
    web = subprocess.run([sys.executable, "-c", "from digest.web import create_app; create_app()"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert web.returncode != 0 and "BATCH_SIZE" in web.stderr and "Traceback" not in web.stderr


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
