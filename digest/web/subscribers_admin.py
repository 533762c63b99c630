"""A list's subscribers in the editors' app (/lists/<list>/subscribers): search, add, unsubscribe,
import a CSV with its progress and refused rows, export.

Search is by the start of the address, a page at a time (store/subscriber_search.py):
no page lists more than about fifty, however large the list. Adding someone asks
them to confirm by email, as the public form does, unless an admin adds them to a
single opt-in list (digest/editors/subscriber_admin.py).

Import: the app takes form bodies of at most 64 KB (web/app.py); this one route
takes up to IMPORT_MAX_BYTES, which werkzeug streams to a temporary file, copied
to the job's own file; the import then runs in a thread of this process with its
progress in Redis (digest/editors/import_jobs.py), and its page reloads itself every few
seconds (<meta http-equiv="refresh">, no script) until it is done. Export streams
the CSV a thousand rows at a time; it is a POST, so it is recorded in the audit log.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from flask import Blueprint, Response, abort, g, request, stream_with_context

from digest import audit
from digest.editors.import_jobs import jobs, start_import
from digest.editors.subscriber_admin import add_subscriber, csv_chunks, search, unsubscribe
from digest.editors.topic_admin import split_keywords
from digest.errors import DigestError, InvalidInput
from digest.store.subscriber_search import SCAN_CURSOR_LIMIT
from digest.web.auth import current_account, editor_page, editors_only
from digest.web.manage import acting, error_status, flash_redirect, flashed
from digest.web.shared import shared
from digest.web.signup import sender

blueprint = Blueprint("subscribers_admin", __name__)
IMPORT_MAX_BYTES = 50 * 1024 * 1024  # ~1 million rows of address, name and topics
REFRESH_SECONDS = 2


@blueprint.before_request
def _bigger_bodies_for_imports() -> None:
    # Before the editors' rule below reads the form (its CSRF check): the limit applies to that read.
    if request.endpoint == "subscribers_admin.import_file":
        request.max_content_length = IMPORT_MAX_BYTES


editors_only(blueprint)


def when(timestamp: float, pattern: str = "%Y-%m-%d %H:%M") -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime(pattern)


def _is_admin() -> bool:
    account = current_account()
    return bool(account and account.is_admin)


def _page(status: int = 200, **context: object) -> tuple[str, int]:
    store, lst = shared().store, g.editor_list
    query = request.args.get("q", "")[:320]
    cursor = _cursor(request.args.get("cursor", "0"))
    results = search(store, lst.slug, query, cursor) if (query or "q" in request.args) else None
    return editor_page("editor/subscribers.html", status, lst=lst, query=query, results=results,
                       active=store.subscriber_count(lst.slug), imports=jobs(store).import_jobs(lst.slug),
                       may_skip_confirmation=_is_admin() and lst.opt_in == "single", form=request.form,
                       when=when, **flashed(), **context)


def _cursor(given: str) -> int:
    """Where a search page starts: the number a "More results" link carries. Redis takes an
    unsigned 64-bit cursor and answers an error for any other (which was a 500 page)."""
    if not (given.isascii() and given.isdigit() and len(given) <= 20 and int(given) < SCAN_CURSOR_LIMIT):
        abort(400, description=f"cursor must be a whole number from 0 to {SCAN_CURSOR_LIMIT - 1}: "
                               "follow the page's own \"More results\" link.")
    return int(given)


@blueprint.get("/lists/<slug>/subscribers")
def subscribers(slug: str) -> tuple[str, int]:
    return _page()


@blueprint.post("/lists/<slug>/subscribers")
def add(slug: str) -> tuple[str, int] | Response:
    app, form = shared(), request.form
    topics = split_keywords(form.get("topics", "")[:2000]) or None
    try:
        added = add_subscriber(app.store, app.settings, sender(), slug, form.get("email", "")[:320],
                               name=form.get("name", "")[:200] or None, topics=topics,
                               opt_in=form.get("opt_in") or None, may_skip_confirmation=_is_admin())
    except DigestError as exc:
        return _page(400, error=f"Not added: {exc}")
    audit.record(app.store, slug, acting(), "subscriber added" if added.new else "subscriber updated",
                 f"{added.email}: {added.status}")
    return flash_redirect(f"/lists/{slug}/subscribers?q={quote(added.email)}", added.message)


@blueprint.post("/lists/<slug>/subscribers/unsubscribe")
def unsubscribe_one(slug: str) -> tuple[str, int] | Response:
    email = request.form.get("email", "")[:320]
    try:
        message = unsubscribe(shared().store, slug, email)
    except DigestError as exc:
        return _page(error_status(exc), error=str(exc))
    audit.record(shared().store, slug, acting(), "subscriber unsubscribed", email)
    return flash_redirect(f"/lists/{slug}/subscribers?q={quote(email.strip().lower())}", message)


@blueprint.post("/lists/<slug>/subscribers/import")
def import_file(slug: str) -> tuple[str, int] | Response:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(400, error="Choose a CSV file to import.")
    app = shared()
    fd, name = tempfile.mkstemp(prefix="digest-import-", suffix=".csv")
    os.close(fd)
    path = Path(name)
    try:
        upload.save(path)
        size = path.stat().st_size
        opt_in = request.form.get("opt_in") or None
        if opt_in == "single" and not _is_admin():
            raise InvalidInput("only an admin may import people without asking them to confirm")
        if not _is_admin():
            opt_in = "double"
        job_id = start_import(app.store, app.settings, sender(), slug, acting(), path, upload.filename,
                              update=request.form.get("update") == "1", opt_in=opt_in)
    except DigestError as exc:
        path.unlink(missing_ok=True)
        return _page(400, error=f"Not imported: {exc}")
    audit.record(app.store, slug, acting(), "import started", f"{upload.filename[:200]} ({size} bytes)")
    return flash_redirect(f"/lists/{slug}/subscribers/imports/{job_id}", f"Importing {upload.filename}.")


@blueprint.get("/lists/<slug>/subscribers/imports/<job_id>")
def import_report(slug: str, job_id: str) -> Response:
    job = jobs(shared().store).import_job(job_id[:64])
    if job is None or job.list_slug != slug:
        abort(404)
    refresh = REFRESH_SECONDS if job.state == "running" else 0
    page, status = editor_page("editor/subscribers_import.html", lst=g.editor_list, job=job, refresh=refresh,
                               when=when, **flashed())
    response = Response(page, status, mimetype="text/html")
    if refresh:  # the meta tag does it too; the header also works where a page's meta is ignored
        response.headers["Refresh"] = str(refresh)
    return response


@blueprint.post("/lists/<slug>/subscribers/export")
def export(slug: str) -> Response:
    store = shared().store
    audit.record(store, slug, acting(), "subscribers exported")
    chunks = stream_with_context(csv_chunks(store, slug))
    return Response(chunks, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{slug}-subscribers.csv"'})
