"""The public archive: the issues a list sent, each as it went out, rendered for no reader.

Access: open to anyone, like the issues' "view in browser" and "All past issues" links
that lead here. Nothing on these pages belongs to a reader: the issue is the stored
rendering (the send ledger's), its greeting the anonymous one and its links carry a
preview token, which works for no reader (links.preview_token). `?topics=a,b` shows
the sections a reader of those topics got, as their "view in browser" link asks.
`/archive/<list>` shows PAGE_SIZE issues a page, newest first (`?page=2` on), and
`/archive/<list>/feed.xml` is the recent ones as an RSS 2.0 feed, with an ETag and
Last-Modified (a reader polling with them gets 304 and nothing read) and a
Cache-Control that lets a proxy keep it FEED_MAX_AGE seconds. Open to anyone, so
neither reads more than a page of issues for a request: both are kept in Redis
for each change of the archive (digest/archive.py).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from babel.dates import format_date
from flask import Blueprint, Response, abort, g, request

from digest.archive import SENT, PastTheEnd, archive_feed, archive_page, feed_tag
from digest.deliver.ledger import Ledger
from digest.errors import NotFound
from digest.links import preview_token
from digest.render import RenderedIssue, personalize
from digest.web.public import page, use_list
from digest.web.shared import shared

blueprint = Blueprint("archive", __name__)

_TOPICS = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}(,[a-z0-9][a-z0-9-]{0,62}){0,99}$")
_PAGE = re.compile(r"[1-9][0-9]*")  # ASCII digits only (str.isdigit takes "٣"), no leading zero
FEED_MAX_AGE = 300  # a proxy may answer for us this long; a new issue shows in the feed within it


@blueprint.get("/archive/<slug>")
def issues(slug: str) -> tuple[str, int]:
    digest_list = use_list(slug)
    try:
        found = archive_page(shared().store, digest_list.slug, _page_number())
    except PastTheEnd as exc:
        abort(404, description=str(exc))
    rows = [(issue.issue_id, issue.subject, format_date(issue.created, "long", locale=g.lang))
            for issue in found.issues]
    return page("archive.html", issues=rows, paging=found)


def _page_number() -> int:
    """`?page=N`, 1 when absent; 400 naming the parameter for anything but one page number."""
    values = request.args.getlist("page")
    if not values:
        return 1
    if len(values) > 1:
        abort(400, description="page is given more than once")
    if not _PAGE.fullmatch(values[0]):
        abort(400, description="page must be a page number: 1, 2, 3 and so on, as the archive's links give it")
    if len(values[0]) > 9:  # a well-formed number past any archive; int() of thousands of digits is slow
        abort(404, description="there is no page that far: the archive is not that long")
    return int(values[0])


@blueprint.get("/archive/<slug>/feed.xml")
def feed(slug: str) -> Response:
    digest_list = use_list(slug)
    app = shared()
    tag = feed_tag(app.store, app.settings, digest_list)
    if request.if_none_match.contains_weak(tag):  # the reader has it: 304, and no issue is read
        response = Response(status=304)
    else:
        kept = archive_feed(app.store, app.settings, digest_list, tag)
        response = Response(kept.body, mimetype="application/rss+xml")
        response.last_modified = datetime.fromtimestamp(kept.modified, timezone.utc)
    response.set_etag(tag)
    response.headers["Cache-Control"] = f"public, max-age={FEED_MAX_AGE}"  # it names no reader (web/app.py keeps it)
    return response.make_conditional(request) if response.status_code == 200 else response


@blueprint.get("/archive/<slug>/<issue_id>")
def issue(slug: str, issue_id: str) -> Response:
    digest_list = use_list(slug)
    app = shared()
    ledger = Ledger(app.store)
    meta = ledger.meta(issue_id)
    raw = ledger.rendered_json(issue_id) if meta.get("list") == digest_list.slug else None
    if raw is None or meta.get("status") not in SENT:
        raise NotFound("issue", issue_id)
    rendered = RenderedIssue.from_json(raw)
    topics = None
    if request.args.get("topics"):
        if not _TOPICS.match(request.args["topics"]):
            abort(400, description="topics is a comma-separated list of topic ids")
        topics = set(request.args["topics"].split(","))
    variant = rendered.assemble(topics)
    if variant is None:
        abort(404, description="this issue has no stories in those topics")
    values = rendered.reader_values(preview_token(app.settings, digest_list.slug), "")
    if request.args.get("format") == "text":
        return Response(personalize(variant[1], values), mimetype="text/plain")
    return Response(personalize(variant[0], values), mimetype="text/html")
