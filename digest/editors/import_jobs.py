"""A subscriber import started from the editors' app, run beside the page that shows its progress.

The uploaded file was streamed to a temporary file on the web host, so the import
runs there too, in a background thread of the web process (a Celery worker on
another machine could not read the file). `run_import_job` is the plain function:
the same `import_csv` the command line runs, with its progress and refused rows
written to Redis (store/import_jobs.py) as it goes, so any web process can show
them. A job whose process dies shows as "stopped" after STALE_SECONDS; importing
the file again is safe (nobody is written twice, nobody who left is resubscribed).
One import runs per list at a time.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from digest.config import Settings
from digest.confirm import send_confirmations
from digest.deliver.base import Sender
from digest.errors import DigestError, InvalidInput
from digest.people import joining_terms, utcnow
from digest.store import Store
from digest.store.import_jobs import ImportJobStore
from digest.subscriber_csv import import_csv

log = logging.getLogger(__name__)


def jobs(store: Store) -> ImportJobStore:
    return ImportJobStore(store.r, store.prefix)


def confirmations(store: Store, settings: Settings, sender: Sender, list_slug: str) -> Callable[[list[str]], int]:
    """Mails confirmation requests to pending addresses of the list (digest/confirm.py)."""
    settings.require_secret_key()  # before anyone is added: the links are signed
    return lambda emails: send_confirmations(store, settings, sender, list_slug, emails)


def run_import_job(store: Store, settings: Settings, sender: Sender, job_id: str, list_slug: str, path: Path,
                   *, update: bool = False, opt_in: str | None = None) -> None:
    """Import the file into the list, recording progress and refused rows under the job; never raises."""
    job_store = jobs(store)
    problems: list[tuple[int, str]] = []

    def on_problem(line: int, reason: str) -> None:
        problems.append((line, reason))

    def on_progress(position: int) -> None:
        job_store.import_progress(job_id, position, problems)
        problems.clear()

    try:
        ask = (opt_in or store.get_list(list_slug).opt_in) == "double"
        confirm = confirmations(store, settings, sender, list_slug) if ask else None
        summary = import_csv(store, list_slug, path, update=update, opt_in=opt_in, on_problem=on_problem,
                             on_progress=on_progress, confirm=confirm)
    except DigestError as exc:  # a bad header, a list gone: the report says so
        job_store.import_progress(job_id, 0, problems)
        job_store.finish_import_job(job_id, list_slug, None, str(exc).replace(str(path), "the file"))
    except Exception as exc:  # noqa: BLE001 - a thread's error would otherwise vanish
        log.exception("import job %s of %s failed", job_id, list_slug)
        job_store.finish_import_job(job_id, list_slug, None, f"the import stopped: {type(exc).__name__}")
    else:
        job_store.import_progress(job_id, path.stat().st_size, problems)
        job_store.finish_import_job(job_id, list_slug, asdict(summary))
    finally:
        path.unlink(missing_ok=True)


def start_import(store: Store, settings: Settings, sender: Sender, list_slug: str, account: str, path: Path,
                 file_name: str, *, update: bool = False, opt_in: str | None = None) -> str:
    """Start importing `path` (which the job then owns and deletes) in a thread; returns the job's id.

    InvalidInput, and the file deleted, when the opt-in is not allowed or the list has
    an import running.
    """
    try:
        joining_terms(store.get_list(list_slug), "import", utcnow(), opt_in)  # refuse single on a double list now
        job_id = uuid.uuid4().hex
        if not jobs(store).start_import_job(job_id, list_slug, account, file_name, path.stat().st_size):
            raise InvalidInput("an import into this list is running; wait for it to finish")
    except Exception:
        path.unlink(missing_ok=True)
        raise
    threading.Thread(target=run_import_job, args=(store, settings, sender, job_id, list_slug, path),
                     kwargs={"update": update, "opt_in": opt_in}, name=f"digest-import-{job_id[:8]}",
                     daemon=True).start()
    return job_id
