"""Settings, read once from the environment (or a .env file), typed and validated.

Every process builds one `Settings` and passes it down; nothing imports a global.
A bad value fails at start-up with the variable's name in the message.
"""

from __future__ import annotations

import ipaddress
import os
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

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
    celery_broker_url: str | None = Field(default=None, validate_default=True)  # checked against REDIS_URL
    # Where `ensure_redis` keeps the server it starts when none answers at REDIS_URL.
    data_dir: Path = Path("var")

    # Public base URL of the web process: unsubscribe and preference links point here.
    base_url: str = "http://127.0.0.1:8000"
    # Keys the signed links. No default: a public default lets anyone forge them.
    # Processes that sign or read links refuse to start without one (require_secret_key).
    secret_key: SecretStr | None = None
    # Deprecated: read-only access to the editor pages over HTTP Basic ("user:password"),
    # beside the accounts of the editors' app; it can change nothing (no session, no CSRF token).
    editor_credential: SecretStr | None = None
    # The editors' app (digest/web/auth.py): a session ends after this long unused, and at
    # the latest this long after its sign-in; sign-in attempts allowed per hour from one
    # client address and for one account (then refused, whatever the password).
    editor_session_idle_minutes: float = Field(default=120.0, gt=0, le=7 * 24 * 60)
    editor_session_max_hours: float = Field(default=12.0, gt=0, le=30 * 24)
    login_per_ip_per_hour: int = Field(default=30, ge=1)
    login_per_account_per_hour: int = Field(default=10, ge=1)

    # Subscribing (double opt-in): how long a confirmation link works, and how often
    # one client address may ask (per hour) and one email address be mailed a
    # confirmation (per day).
    confirm_token_days: float = Field(default=7.0, gt=0, le=90)
    subscribe_per_ip_per_hour: int = Field(default=10, ge=1)
    subscribe_per_address_per_day: int = Field(default=3, ge=1)
    # How many reverse proxies in front of the web process append to X-Forwarded-For.
    # 0: the header is ignored (anyone can write it) and the peer address is the client's.
    trusted_proxies: int = Field(default=0, ge=0, le=10)

    # Sending: without an API key, messages go to a file outbox.
    sendgrid_api_key: SecretStr | None = None
    sendgrid_api_host: str = SENDGRID_HOST
    sendgrid_timeout: float = Field(default=30.0, gt=0)
    # SendGrid's click and open tracking, set on every request so an account's defaults
    # never decide it. Off by default: a rewritten link is ~350 bytes longer (a full issue
    # then passes Gmail's clip), and readers' clicks are nobody's business unless the list says so.
    sendgrid_click_tracking: bool = False
    sendgrid_open_tracking: bool = False
    outbox_dir: Path = Path("var/outbox")
    batch_size: int = Field(default=1000, ge=1, le=1000)
    send_rate: float | None = Field(default=None, gt=0)  # emails per second, all workers
    # Unacknowledged tasks return to the queue after this long (Redis broker):
    # how soon a batch of a killed worker is looked at again.
    visibility_timeout: int = Field(default=3600, ge=5)
    # First retry delay after a 5xx or a refused connection; doubles each time, with jitter.
    send_retry_base: float = Field(default=2.0, gt=0)

    # Collection: polite, bounded fetching.
    fetch_timeout: float = Field(default=20.0, gt=0)  # per connect / read
    fetch_deadline: float = Field(default=60.0, gt=0)  # a whole fetch, however the server dribbles
    # Networks the collector may connect to besides the public internet, comma-separated
    # CIDRs ("127.0.0.0/8,::1/128"). Empty: loopback, private, link-local, metadata and
    # other non-public addresses are refused, whatever the URL's spelling.
    fetch_allow_networks: str = ""
    fetch_max_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    fetch_max_redirects: int = Field(default=5, ge=0)
    fetch_user_agent: str = "digest/0.1 (+https://github.com/digest-newsletter/digest)"
    article_ttl_days: int = Field(default=30, ge=1)
    # Caps on what one feed can make us store and show.
    feed_max_items: int = Field(default=200, ge=1)  # entries kept per fetch, newest first
    title_max_chars: int = Field(default=300, ge=20)
    summary_max_chars: int = Field(default=20_000, ge=200)  # article text kept (HTML and plain)
    feed_backoff_max_hours: float = Field(default=24.0, gt=0)
    # Politeness (digest/collect/politeness.py): consecutive failures before a feed is
    # paused; per host, at most this many requests at once and this many seconds
    # between the starts of two, across every collecting process (kept in Redis);
    # fetches at once in each process of one `collect_all`.
    feed_max_failures: int = Field(default=10, ge=1)
    per_host_concurrency: int = Field(default=2, ge=1, le=64)
    per_host_delay: float = Field(default=1.0, ge=0, le=60)
    collect_threads: int = Field(default=8, ge=1, le=256)
    # Processes one `collect_all` deals its feeds over (0: one per CPU once there are enough feeds).
    collect_processes: int = Field(default=0, ge=0, le=64)
    # Full text (digest/collect/fulltext.py): article pages read per feed per collection,
    # newest first (0: none), and the length under which a feed's text is a teaser
    # for feeds in "auto" mode.
    fulltext_max_pages: int = Field(default=10, ge=0, le=200)
    fulltext_min_chars: int = Field(default=500, ge=0, le=100_000)
    collect_schedule: str = "*/30 * * * *"  # cron, for the beat entry
    # How often beat looks for lists whose issue is due (digest/dispatch.py). An issue
    # goes out at most this long after its slot.
    schedule_tick_seconds: float = Field(default=60.0, ge=1, le=3600)
    # RabbitMQ brokers only (digest/ops/queues.py): "quorum" declares digest's queues as quorum
    # queues, replicated across a RabbitMQ cluster; "classic": durable classic queues.
    celery_queue_type: Literal["classic", "quorum"] = "classic"

    # SendGrid's signed Event Webhook (digest.events) and Inbound Parse (digest.inbound).
    # The verification key SendGrid shows (base64 DER, ECDSA P-256). Unset: no endpoint (404).
    sendgrid_webhook_public_key: str | None = None
    sendgrid_webhook_path: str = "/webhooks/sendgrid/events"
    sendgrid_webhook_tolerance: int = Field(default=300, ge=10, le=3600)  # seconds either side of now
    sendgrid_webhook_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    soft_bounce_limit: int = Field(default=3, ge=1)  # consecutive blocks before an address counts as bounced
    complaint_pause_rate: float = Field(default=0.003, gt=0, le=1)  # spam reports / handed over, per issue
    complaint_pause_min: int = Field(default=2, ge=1)  # ... and at least this many reports
    # Inbound Parse: POST {INBOUND_PARSE_PATH}/{INBOUND_PARSE_SECRET}. Unset secret: no endpoint (404).
    inbound_parse_path: str = "/webhooks/inbound"
    inbound_parse_secret: SecretStr | None = None
    # The host whose MX points at SendGrid (e.g. parse.planet.example); "" = each list's from domain.
    inbound_parse_domain: str = ""
    # Newsletters as a source (digest/collect/newsletter.py): Inbound Parse of another host
    # (NEWSLETTER_INBOUND_DOMAIN, e.g. news.planet.example) posts to
    # {NEWSLETTER_INBOUND_PATH}/{NEWSLETTER_INBOUND_SECRET}. Unset secret: no endpoint (404).
    newsletter_inbound_path: str = "/webhooks/newsletters"
    newsletter_inbound_secret: SecretStr | None = None
    newsletter_inbound_domain: str = ""

    templates_dir: Path = DEFAULT_TEMPLATES_DIR

    # Operations (digest/ops/logs.py, digest/ops/metrics/, digest/ops/health.py): log lines as text or
    # JSON (one object a line), their level, and the bearer token /metrics asks for
    # (unset: /metrics is open, so serve it only where Prometheus alone reaches).
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_token: SecretStr | None = None

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # X_FILE after what the caller passes, before the environment (X and X_FILE both set is an error).
        return init_settings, SecretFiles(settings_cls), env_settings, dotenv_settings, file_secret_settings

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

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

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not re.match(r"^(rediss?|unix|rediss?\+cluster)://", value):
            raise ValueError("must be a Redis URL such as redis://localhost:6379/0 "
                             "(redis+cluster://host:port for any node of a Redis Cluster)")
        return value

    @field_validator("celery_broker_url")
    @classmethod
    def _broker_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            store = info.data.get("redis_url") or ""
            if store.split("://", 1)[0].endswith("+cluster"):  # kombu cannot talk to a Redis Cluster
                raise ValueError("REDIS_URL names a Redis Cluster: set CELERY_BROKER_URL to a plain Redis "
                                 "or RabbitMQ (Celery's broker cannot run on a cluster)")
            return None
        if not re.match(r"^(rediss?|unix|amqps?|pyamqp)://", value):
            raise ValueError("must be a broker URL such as redis://localhost:6379/0 or amqp://localhost:5672//")
        return value

    @field_validator("secret_key", "editor_credential", "inbound_parse_secret", "newsletter_inbound_secret",
                     "metrics_token", mode="before")
    @classmethod
    def _blank_secret_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value

    @field_validator("secret_key")
    @classmethod
    def _real_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        text = value.get_secret_value()
        if text.strip().lower() in PUBLIC_SECRETS:
            raise ValueError("is a published example value; generate one: python3 -c 'import secrets; "
                             "print(secrets.token_urlsafe(32))'")
        if len(text) < MIN_SECRET_CHARS:
            raise ValueError(f"must be at least {MIN_SECRET_CHARS} characters")
        return value

    @field_validator("editor_credential")
    @classmethod
    def _user_and_password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            user, sep, password = value.get_secret_value().partition(":")
            if not (user and sep and len(password) >= 12):
                raise ValueError("must be USER:PASSWORD, the password at least 12 characters")
        return value

    @field_validator("editor_session_max_hours")
    @classmethod
    def _session_outlives_idle(cls, value: float, info: ValidationInfo) -> float:
        idle = info.data.get("editor_session_idle_minutes")
        if idle is not None and value * 60 < idle:
            raise ValueError("must be at least EDITOR_SESSION_IDLE_MINUTES")
        return value

    @field_validator("fetch_allow_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in _split(value):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"{part!r} is not a network (use CIDR, e.g. 127.0.0.0/8)") from None
        return value

    @field_validator("sendgrid_webhook_public_key", mode="before")
    @classmethod
    def _blank_key_is_unset(cls, value: object) -> object:
        return None if value in ("", None) else value

    @field_validator("sendgrid_webhook_public_key")
    @classmethod
    def _p256_key(cls, value: str | None) -> str | None:
        if value is not None:
            from digest.webhook_signature import load_public_key  # cryptography: only when a key is set

            load_public_key(value)  # ValueError naming what is wrong
        return value

    @field_validator("sendgrid_webhook_path", "inbound_parse_path", "newsletter_inbound_path")
    @classmethod
    def _url_path(cls, value: str) -> str:
        if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", value):
            raise ValueError("must be a URL path like /webhooks/sendgrid/events (letters, digits, . _ ~ -)")
        return value

    @field_validator("inbound_parse_secret", "newsletter_inbound_secret", "metrics_token")
    @classmethod
    def _url_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{16,200}", value.get_secret_value()):
            raise ValueError("must be 16 or more URL-safe characters (A-Z a-z 0-9 _ -); generate one: "
                             "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'")
        return value

    @field_validator("inbound_parse_domain", "newsletter_inbound_domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        value = value.strip().lower()
        if value and not re.fullmatch(r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", value):
            raise ValueError("must be a host name like parse.planet.example")
        return value

    def require_secret_key(self) -> str:
        """The signing key; ConfigError (naming SECRET_KEY) when none is set."""
        if self.secret_key is None:
            raise ConfigError(
                "SECRET_KEY is not set: it signs every unsubscribe and preferences link. Generate one: "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return self.secret_key.get_secret_value()

    @cached_property
    def allowed_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(p, strict=False) for p in _split(self.fetch_allow_networks))

    @cached_property
    def broker_url(self) -> str:
        return self.celery_broker_url or self.redis_url or "redis://127.0.0.1:6379/0"


PUBLIC_SECRETS = {"change-me-in-production", "changeme", "change-me", "secret", "test-secret", "dev", "development"}
MIN_SECRET_CHARS = 16
# For tests and the demo, which must reach their own loopback servers.
LOOPBACK_NETWORKS = "127.0.0.0/8,::1/128"


def _split(value: str) -> list[str]:
    return [p.strip() for p in value.split(",") if p.strip()]


# Settings that may come from a file named by NAME_FILE: the secret ones, and the URLs
# (they carry passwords). Computed from the annotations, so a new SecretStr setting is one.
def file_settings(settings_cls: type[BaseSettings]) -> list[str]:
    return [name for name, f in settings_cls.model_fields.items()
            if f.annotation is SecretStr or SecretStr in get_args(f.annotation)] + ["redis_url", "celery_broker_url"]


SECRET_FILE_MAX_BYTES = 64 * 1024  # a key is a few hundred bytes; /dev/zero must not hang start-up


class SecretFiles(PydanticBaseSettingsSource):
    """NAME_FILE=/run/secrets/name: the file's content (less one trailing newline) is NAME's value.

    Read from the environment and the .env file. Errors name the variable and the
    path, never the content."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False  # unused: __call__ reads every file at once

    def __call__(self) -> dict[str, Any]:
        env = {k.upper(): v for k, v in _dotenv(self.settings_cls).items()}
        env.update({k.upper(): v for k, v in os.environ.items()})
        values: dict[str, Any] = {}
        for name in file_settings(self.settings_cls):
            var = name.upper()
            path = env.get(f"{var}_FILE")
            if not path:
                continue
            if env.get(var):
                raise ConfigError(f"{var} and {var}_FILE are both set: keep one (the file is for secrets "
                                  f"kept out of the environment)")
            values[name] = _read_secret_file(f"{var}_FILE", path)
        return values


def _dotenv(settings_cls: type[BaseSettings]) -> dict[str, str]:
    env_file = settings_cls.model_config.get("env_file")
    if not isinstance(env_file, str | Path) or not Path(env_file).is_file():
        return {}
    from dotenv import dotenv_values  # pydantic-settings' own dependency

    return {k: v for k, v in dotenv_values(env_file).items() if v is not None}


def _read_secret_file(var: str, path: str) -> str:
    try:
        with open(path, "rb") as f:
            raw = f.read(SECRET_FILE_MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{var}: cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    if len(raw) > SECRET_FILE_MAX_BYTES:
        raise ConfigError(f"{var}: {path} is larger than {SECRET_FILE_MAX_BYTES} bytes: not a secret's file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{var}: {path} is not UTF-8 text") from None
    text = text.removesuffix("\n").removesuffix("\r")  # the newline editors and `echo` add
    if not text:
        raise ConfigError(f"{var}: {path} is empty")
    return text


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning pydantic's report into one line per bad variable.

    A secret's value is never repeated in the message, nor a URL's password."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        secret = set(file_settings(Settings)) - {"redis_url", "celery_broker_url"}
        lines = []
        for err in exc.errors():
            field = "_".join(str(p) for p in err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            shown = "" if field in secret or "input" not in err else f" (got {_shown(err['input'])})"
            lines.append(f"{field.upper() or 'SETTINGS'}: {message}{shown}")
        if len(lines) == 1:
            raise ConfigError("invalid setting: " + lines[0]) from None
        raise ConfigError("invalid settings:\n  " + "\n  ".join(lines)) from None


def _shown(value: object) -> str:
    text = re.sub(r"(://[^:/@\s]*):[^@/\s]+@", r"\1:***@", repr(value))  # a URL's password
    return text if len(text) <= 200 else text[:200] + "…"
