"""The public archive: the issues a list sent, each as it went out, rendered for no reader.

Access: open to anyone, like the issues' "view in browser" and "All past issues" links
that lead here. Nothing on these pages belongs to a reader: the issue is the stored
rendering (the send ledger's), its greeting the anonymous one and its links carry a
preview token, which works for no reader (links.preview_token). `?topics=a,b` shows
the sections a reader of those topics got, as their "view in browser" link asks.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from babel.dates import format_date
from flask import Blueprint, Response, abort, g, request

from digest.deliver.ledger import Ledger
from digest.errors import NotFound
from digest.links import preview_token
from digest.render import RenderedIssue, personalize
from digest.web.public import page, use_list
from digest.web.shared import shared

blueprint = Blueprint("archive", __name__)

SENT = ("sending", "done")  # planned and handed over (or being handed over); halted ones may never go
_TOPICS = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}(,[a-z0-9][a-z0-9-]{0,62}){0,99}$")


@blueprint.get("/archive/<slug>")
def issues(slug: str) -> tuple[str, int]:
    digest_list = use_list(slug)
    ledger = Ledger(shared().store)
    rows = []
    for issue_id in reversed(ledger.issues(digest_list.slug)):  # newest first
        meta = ledger.meta(issue_id)
        if meta.get("status") in SENT:
            created = datetime.fromtimestamp(float(meta.get("created", 0)), timezone.utc)
            rows.append((issue_id, meta.get("subject") or issue_id, format_date(created, "long", locale=g.lang)))
    return page("archive.html", issues=rows)


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
