"""Feeds in the editors' app (/feeds): their health, added from a site's URL, paused, resumed, removed.

Admins only. Feeds are global: a list takes every feed's articles unless it names
some (DigestList.feeds), so adding, pausing or removing a feed changes the issues
of lists an editor does not manage. An editor gets a 404 here, as for /audit.

Adding runs discovery in the request, capped at about 20 s (feed_admin.WEB_BUDGET
and WEB_FETCH_SECONDS) rather than the collector's 120 s: a site that is this slow
is not added now (the page says why), and a worker is never held for minutes.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, request

from digest import audit
from digest.editors.feed_admin import (
    WEB_BUDGET,
    WEB_FETCH_SECONDS,
    add_feed,
    feed_health,
    pause_feed,
    remove_feed,
    resume_feed,
)
from digest.errors import DigestError
from digest.web.auth import current_account, editor_page, editors_only
from digest.web.manage import error_status, flash_redirect, flashed
from digest.web.shared import shared

blueprint = Blueprint("feeds_admin", __name__)
editors_only(blueprint)


@blueprint.before_request
def _admins_only() -> None:
    account = current_account()
    if account is None or not account.is_admin:
        abort(404)


def _page(status: int = 200, **context: object) -> tuple[str, int]:
    return editor_page("editor/feeds.html", status, rows=feed_health(shared().store), form=request.form,
                       **flashed(), **context)


@blueprint.get("/feeds")
def feeds() -> tuple[str, int]:
    return _page()


@blueprint.post("/feeds")
def add() -> tuple[str, int] | Response:
    app, who = shared(), current_account().email  # type: ignore[union-attr]
    url = request.form.get("url", "").strip()[:2000]
    try:
        added = add_feed(app.store, app.settings, url, feed_id=request.form.get("id", "")[:63],
                         name=request.form.get("name", "")[:200], full_text=request.form.get("full_text", "auto"),
                         keep_unreachable=False, replace=False, budget=WEB_BUDGET, fetch_seconds=WEB_FETCH_SECONDS)
    except DigestError as exc:
        return _page(400, error=f"Not added: {exc}")
    audit.record(app.store, None, who, "feed added", f"{added.feed.id} {added.feed.url}")
    found = f" (found {added.how})" if added.how else ""
    return flash_redirect("/feeds", f"Feed {added.feed.id} added: {added.feed.url}{found}")


@blueprint.post("/feeds/<feed_id>/<action>")
def act(feed_id: str, action: str) -> tuple[str, int] | Response:
    app, who = shared(), current_account().email  # type: ignore[union-attr]
    try:
        if action == "pause":
            pause_feed(app.store, feed_id, f"paused by {who}")
            notice = f"Feed {feed_id} paused: it is not collected until resumed."
        elif action == "resume":
            resume_feed(app.store, feed_id)
            notice = f"Feed {feed_id} resumed: collected from the next run on."
        elif action == "remove":
            remove_feed(app.store, feed_id)
            notice = f"Feed {feed_id} removed (its articles stay until they expire)."
        else:
            abort(404)
    except DigestError as exc:
        return _page(error_status(exc), error=str(exc))
    audit.record(app.store, None, who, f"feed {action}", feed_id)
    return flash_redirect("/feeds", notice)
