"""The public archive: the issues a list sent, each as it went out, rendered for no reader.

Access: open to anyone, like the issues' "view in browser" and "All past issues" links
that lead here. Nothing on these pages belongs to a reader: the issue is the stored
rendering (the send ledger's), its greeting the anonymous one and its links carry a
preview token, which works for no reader (links.preview_token). `?topics=a,b` shows
the sections a reader of those topics got, as their "view in browser" link asks.
`/archive/<list>/feed.xml` is the same index as an RSS 2.0 feed, each issue with
its headlines by section (built with ElementTree, which escapes every value).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from email.utils import format_datetime
from xml.etree import ElementTree as ET

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
    rows = [(issue_id, meta.get("subject") or issue_id, format_date(created, "long", locale=g.lang))
            for issue_id, meta, created in sent_issues(Ledger(shared().store), digest_list.slug)]
    return page("archive.html", issues=rows)


FEED_ISSUES = 50  # an RSS reader needs the recent issues, not the whole history


def sent_issues(ledger: Ledger, slug: str) -> list[tuple[str, dict[str, str], datetime]]:
    """The list's issues that went out, newest first: (id, meta, created)."""
    out = []
    for issue_id in reversed(ledger.issues(slug)):
        meta = ledger.meta(issue_id)
        if meta.get("status") in SENT:
            out.append((issue_id, meta, datetime.fromtimestamp(float(meta.get("created", 0)), timezone.utc)))
    return out


@blueprint.get("/archive/<slug>/feed.xml")
def feed(slug: str) -> Response:
    digest_list = use_list(slug)
    base = shared().settings.base_url.rstrip("/")
    ledger = Ledger(shared().store)
    rss = ET.Element("rss", version="2.0")
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = digest_list.name
    ET.SubElement(channel, "link").text = f"{base}/archive/{digest_list.slug}"
    ET.SubElement(channel, "description").text = g.gettext("Past issues of %(list)s", list=digest_list.name)
    ET.SubElement(channel, "language").text = digest_list.locale
    for issue_id, meta, created in sent_issues(ledger, digest_list.slug)[:FEED_ISSUES]:
        item = ET.SubElement(channel, "item")
        link = f"{base}/archive/{digest_list.slug}/{issue_id}"
        ET.SubElement(item, "title").text = meta.get("subject") or issue_id
        ET.SubElement(item, "link").text = link
        ET.SubElement(item, "guid", isPermaLink="true").text = link
        ET.SubElement(item, "pubDate").text = format_datetime(created)
        raw = ledger.rendered_json(issue_id)
        if raw is not None:
            ET.SubElement(item, "description").text = _headlines_html(RenderedIssue.from_json(raw))
    body = ET.tostring(rss, encoding="utf-8", xml_declaration=True)
    return Response(body, mimetype="application/rss+xml")


def _headlines_html(rendered: RenderedIssue) -> str:
    """The issue's sections and headlines as a little HTML, for the feed item's description."""
    root = ET.Element("div")
    for section in rendered.order:
        headlines = rendered.headlines.get(f"{section}~main")
        if headlines:
            ET.SubElement(root, "h3").text = rendered.names.get(section, section)
            ul = ET.SubElement(root, "ul")
            for headline in headlines:
                ET.SubElement(ul, "li").text = headline
    return "".join(ET.tostring(child, encoding="unicode", method="html") for child in root)


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
