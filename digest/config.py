"""Settings, read once from the environment (or a .env file), typed and validated.

Every process builds one `Settings` and passes it down; nothing imports a global.
A bad value fails at start-up with the variable's name in the message.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from digest.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
# Editable installs and checkouts read templates/email/ at the top of the repo;
# a wheel carries them as digest/_templates/email/.
_REPO_TEMPLATES = PACKAGE_DIR.parent / "templates" / "email"
_WHEEL_TEMPLATES = PACKAGE_DIR / "_templates" / "email"
DEFAULT_TEMPLATES_DIR = _REPO_TEMPLATES if _REPO_TEMPLATES.is_dir() else _WHEEL_TEMPLATES

SENDGRID_HOST = "https://api.sendgrid.com"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", secrets_dir=None)

    # Redis: the store, and (unless CELERY_BROKER_URL says otherwise) the broker.
    redis_url: str | None = None
    redis_prefix: str = Field(default="digest", pattern=r"^[A-Za-z0-9_.-]+$")
    celery_broker_url: str | None = None
    # Where `ensure_redis` keeps the server it starts when none answers at REDIS_URL.
    data_dir: Path = Path("var")

    # Public base URL of the web process: unsubscribe and preference links point here.
    base_url: str = "http://127.0.0.1:8000"
    secret_key: SecretStr = SecretStr("change-me-in-production")

    # Sending: without an API key, messages go to a file outbox.
    sendgrid_api_key: SecretStr | None = None
    sendgrid_api_host: str = SENDGRID_HOST
    sendgrid_timeout: float = Field(default=30.0, gt=0)
    outbox_dir: Path = Path("var/outbox")
    batch_size: int = Field(default=1000, ge=1, le=1000)
    send_rate: float | None = Field(default=None, gt=0)  # emails per second, all workers
    # Unacknowledged tasks return to the queue after this long (Redis broker):
    # how soon a batch of a killed worker is looked at again.
    visibility_timeout: int = Field(default=3600, ge=5)
    # First retry delay after a 5xx or a refused connection; doubles each time, with jitter.
    send_retry_base: float = Field(default=2.0, gt=0)

    # Collection: polite, bounded fetching.
    fetch_timeout: float = Field(default=20.0, gt=0)
    fetch_max_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    fetch_max_redirects: int = Field(default=5, ge=0)
    fetch_user_agent: str = "digest/0.1 (+https://github.com/digest-newsletter/digest)"
    article_ttl_days: int = Field(default=30, ge=1)
    feed_backoff_max_hours: float = Field(default=24.0, gt=0)
    collect_schedule: str = "*/30 * * * *"  # cron, for the beat entry

    templates_dir: Path = DEFAULT_TEMPLATES_DIR

    @field_validator("sendgrid_api_key", mode="before")
    @classmethod
    def _blank_key_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value

    @field_validator("base_url", "sendgrid_api_host")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @cached_property
    def broker_url(self) -> str:
        return self.celery_broker_url or self.redis_url or "redis://127.0.0.1:6379/0"


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning pydantic's report into one line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = "_".join(str(p) for p in err["loc"]).upper()
            lines.append(f"{name}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("invalid setting: " + "; ".join(lines)) from None
