"""What every command shares: the settings and store, read once; errors as one line."""

from __future__ import annotations

import sys
from typing import Any

import click
import redis
from pydantic import ValidationError

from digest.config import Settings, load_settings
from digest.errors import DigestError, InvalidInput
from digest.store import Store

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


class Context:
    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._store: Store | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    @property
    def store(self) -> Store:
        if self._store is None:
            url = self.settings.redis_url or DEFAULT_REDIS
            if not self.settings.redis_url:
                click.echo(f"note: REDIS_URL is not set; using {url}", err=True)
            store = Store.from_url(url, self.settings.redis_prefix)
            try:
                store.r.ping()
            except (redis.RedisError, OSError) as exc:
                hint = "" if self.settings.redis_url else \
                    " (set REDIS_URL, or try everything on its own Redis with: python3 dev.py demo)"
                raise DigestError(f"no Redis answers at REDIS_URL={url}: {exc}{hint}") from None
            self._store = store
        return self._store


pass_ctx = click.make_pass_decorator(Context, ensure=True)


def split_list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").replace(";", ",").split(",") if v.strip()]


def build_model(cls: type, **fields: Any) -> Any:
    """Build a model, turning pydantic's report into a one-line InvalidInput."""
    try:
        return cls(**fields)
    except ValidationError as exc:
        msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"invalid {cls.__name__.lower()}: {msg}") from None


@click.group()
def cli() -> None:
    """digest: feeds in, one well-grouped email out."""



def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DigestError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
