"""The editors' app: the dashboard, a list's page, the preview of its next issue, its audit log.

Signed-in editors only; the rule is set once on the blueprint (web/auth.py
editors_only): signed out, pages send to /login; a list the account does not
manage is 404 on every page and action of it, as if it did not exist.

A preview is the email exactly as sent, with one difference: its links carry a
preview token, which works for no reader (links.preview_token). `?email=` shows
the email a given reader would get (their topics and greeting), never their links.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, g, request

from digest import audit
from digest.dashboard import dashboards, list_dashboard
from digest.errors import InvalidInput
from digest.issue import next_issue
from digest.links import preview_token
from digest.models import utcnow
from digest.render import personalize
from digest.web.auth import current_account, editor_page, editors_only
from digest.web.shared import shared

blueprint = Blueprint("editors", __name__)
editors_only(blueprint)


@blueprint.get("/lists")
def lists() -> tuple[str, int]:
    """Every list the account manages, with its state, next issue and numbers."""
    account = current_account()
    visible = [lst for lst in shared().store.lists() if account and account.can_manage(lst.slug)]
    return editor_page("lists.html", boards=dashboards(shared().store, visible))


@blueprint.get("/lists/<slug>")
def list_page(slug: str) -> tuple[str, int]:
    return editor_page("editor/list.html", board=list_dashboard(shared().store, g.editor_list, utcnow()))


@blueprint.get("/lists/<slug>/audit")
def list_audit(slug: str) -> tuple[str, int]:
    return editor_page("editor/audit.html", lst=g.editor_list, entries=audit.entries(shared().store, slug))


@blueprint.get("/audit")
def editors_audit() -> tuple[str, int]:
    """Sign-ins and sign-outs of every account: admins only."""
    account = current_account()
    if account is None or not account.is_admin:
        abort(404)
    return editor_page("editor/audit.html", lst=None, entries=audit.entries(shared().store, None))


@blueprint.get("/lists/<slug>/preview")
def preview(slug: str) -> Response:
    """The next issue as it will be sent: the sender's code path, a preview token in the links.

    ?email= shows one reader's email (their topics and greeting); ?topics=a,b a variant.
    """
    app = shared()
    content, rendered = next_issue(app.store, app.settings, slug)
    name, topics = "", None
    if request.args.get("email"):
        try:
            sub = app.store.get_subscriber(slug, request.args["email"])
        except InvalidInput as exc:
            abort(400, description=str(exc))
        name, topics = sub.name, set(sub.topics) if sub.topics else None
    if "topics" in request.args:
        topics = {t for t in request.args["topics"].split(",") if t} or None
    variant = rendered.assemble(topics)
    if variant is None:
        abort(404, description="the next issue has no articles yet" if content.is_empty else
              f"none of the topics {', '.join(sorted(topics or ()))} has articles in the next issue")
    values = rendered.reader_values(preview_token(app.settings, slug), name)
    if request.args.get("format") == "text":
        return Response(personalize(variant[1], values), mimetype="text/plain")
    return Response(personalize(variant[0], values), mimetype="text/html")
