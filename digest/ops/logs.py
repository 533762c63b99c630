"""Log lines: one per event, JSON when LOG_FORMAT=json, with the ids of what is being worked on.

    {"time": "2026-11-23T07:00:01.234Z", "level": "ERROR", "logger": "digest.tasks",
     "process": "ForkPoolWorker-1", "message": "issue weekly-20261123-1 halted: ...",
     "task": "digest.send_batch", "task_id": "...", "issue": "weekly-20261123-1", "batch": "000042"}

The ids (list, issue, feed, batch, and the task) come from a context variable that
digest/ops/observe.py sets around each Celery task from the task's own arguments, and
that code can set around any other unit of work with `log_context(...)`.

Nothing secret and no address leaves in full: the formatters (not a filter, so the
record other handlers see is untouched, and tracebacks are covered too) mask every
email address (`a***@example.com`), the password of any URL
(`redis://:***@host`), SendGrid API keys, bearer tokens, and the value of every
secret setting. The standard library's json suffices for the JSON lines:
python-json-logger would add a dependency for what `json.dumps` of a dict does.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pydantic import SecretStr

from digest.config import Settings

LOG_CONTEXT: ContextVar[dict[str, str]] = ContextVar("digest_log_context", default={})  # noqa: B039  # never mutated
CONTEXT_KEYS = ("task", "task_id", "list", "issue", "feed", "batch")
_ID_VALUE = re.compile(r"[^A-Za-z0-9_.:@-]")
ID_MAX_CHARS = 160

_EMAIL = re.compile(r"([\w.!#$%&'*+/=?^`{|}~-])[\w.!#$%&'*+/=?^`{|}~-]*@([\w-]+(?:\.[\w-]+)+)")
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*):[^@/\s]+@", re.IGNORECASE)
_SENDGRID_KEY = re.compile(r"\bSG\.[\w-]{8,}\.[\w-]{8,}")
_BEARER = re.compile(r"\b(Bearer|Basic)\s+[\w.~+/=-]{8,}", re.IGNORECASE)
REDACTED = "[redacted]"
SECRET_MIN_CHARS = 6  # shorter "secrets" would blank ordinary words


def clean_id(value: object) -> str:
    return _ID_VALUE.sub("_", str(value))[:ID_MAX_CHARS]


@contextmanager
def log_context(**ids: object) -> Iterator[None]:
    """Log lines inside carry these ids (None values are left out), on top of the current ones."""
    token = LOG_CONTEXT.set({**LOG_CONTEXT.get(), **{k: clean_id(v) for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        LOG_CONTEXT.reset(token)


class Redactor:
    """Masks addresses, URL passwords, API keys, bearer tokens and the given secret values."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = sorted({s for s in secrets if s and len(s) >= SECRET_MIN_CHARS}, key=len, reverse=True)
        self._secrets = re.compile("|".join(map(re.escape, values))) if values else None

    def __call__(self, text: str) -> str:
        if self._secrets is not None:
            text = self._secrets.sub(REDACTED, text)
        text = _URL_PASSWORD.sub(r"\1:***@", text)
        text = _SENDGRID_KEY.sub(REDACTED, text)
        text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        return _EMAIL.sub(r"\1***@\2", text)

    @classmethod
    def from_settings(cls, settings: Settings) -> Redactor:
        return cls(secret_values(settings))


def secret_values(settings: Settings) -> list[str]:
    """Every secret setting's value (and the password half of USER:PASSWORD ones)."""
    values = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            text = value.get_secret_value()
            values.append(text)
            if name == "editor_credential":
                values.append(text.partition(":")[2])
    for url in (settings.redis_url, settings.celery_broker_url):
        if url and (match := re.search(r"://[^:/@\s]*:([^@/\s]+)@", url)):
            values.append(match.group(1))
    return values


class _DigestFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def parts(self, record: logging.LogRecord) -> tuple[str, str]:
        """The message and the traceback (if any), both redacted."""
        message = record.getMessage()
        trace = ""
        if record.exc_info:
            trace = self.formatException(record.exc_info)
        elif record.exc_text:
            trace = record.exc_text
        if record.stack_info:
            trace = (trace + "\n" if trace else "") + self.formatStack(record.stack_info)
        return self.redact(message), self.redact(trace)

    @staticmethod
    def when(record: logging.LogRecord) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


class JsonFormatter(_DigestFormatter):
    def format(self, record: logging.LogRecord) -> str:
        message, trace = self.parts(record)
        line: dict[str, str] = {"time": self.when(record), "level": record.levelname, "logger": record.name,
                                "process": record.processName or "", "message": message}
        line.update(LOG_CONTEXT.get())
        if trace:
            line["exception"] = trace
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(_DigestFormatter):
    def format(self, record: logging.LogRecord) -> str:
        message, trace = self.parts(record)
        ids = " ".join(f"{k}={v}" for k, v in LOG_CONTEXT.get().items() if k != "task_id")
        line = f"{self.when(record)} {record.levelname} [{record.processName}] {record.name}: {message}"
        line += f" [{ids}]" if ids else ""
        return line + ("\n" + trace if trace else "")


def make_formatter(settings: Settings) -> logging.Formatter:
    redact = Redactor.from_settings(settings)
    return JsonFormatter(redact) if settings.log_format == "json" else TextFormatter(redact)


class _DigestHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler `configure_logging` adds, recognised so it is added once."""


def use_formatter(logger: logging.Logger, settings: Settings) -> None:
    """Every handler of `logger` writes digest's lines (Celery's own handlers, after it set them up)."""
    formatter = make_formatter(settings)
    for handler in logger.handlers:
        handler.setFormatter(formatter)


def configure_logging(settings: Settings, level: str | int | None = None) -> None:
    """The root logger writes digest's lines to stderr (once per process), at LOG_LEVEL."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, _DigestHandler)]
    handler = ours[0] if ours else _DigestHandler(sys.stderr)
    handler.setFormatter(make_formatter(settings))
    if not ours:
        root.addHandler(handler)
    root.setLevel(level or settings.log_level)
