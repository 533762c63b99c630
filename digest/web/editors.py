"""Editors' pages: the list index and the preview of the next issue.

Until the editors' app brings sign-in, these pages are served only behind one
credential, EDITOR_CREDENTIAL ("user:password", HTTP Basic; use it over https).
Without it they do not exist (404), so a stranger who reaches the web process
learns nothing. The rule is set once, on the blueprint, not per view.

A preview is the email exactly as sent, with one difference: its links carry a
preview token, which works for no reader (links.preview_token). `?email=` shows
the email a given reader would get (their topics and greeting), never their links.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, abort, render_template, request

from digest.errors import InvalidInput
from digest.issue import next_issue
from digest.links import preview_token
from digest.render import personalize
from digest.web.shared import english, shared

blueprint = Blueprint("editors", __name__)


@blueprint.before_request
def editors_only() -> Response | None:
    credential = shared().settings.editor_credential
    if credential is None:
        abort(404)
    user, _, password = credential.get_secret_value().partition(":")
    auth = request.authorization
    basic = auth is not None and auth.type == "basic"
    given_user = (auth.username or "") if basic else ""  # type: ignore[union-attr]
    given_password = (auth.password or "") if basic else ""  # type: ignore[union-attr]
    # Both compared, in constant time, whatever the first gives.
    ok = hmac.compare_digest(given_user.encode(), user.encode())
    ok &= hmac.compare_digest(given_password.encode(), password.encode())
    if not ok:
        return Response("Sign in as an editor.\n", 401, {"WWW-Authenticate": 'Basic realm="digest editors"'},
                        mimetype="text/plain")
    return None


@blueprint.get("/lists")
def lists() -> str:
    return render_template("lists.html", lists=shared().store.lists(), _=english)


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
