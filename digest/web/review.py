"""The next issue's review page: the preview in frames, preflight beside it, approval,
pause and resume, test sends. Same rule as the editors' app (web/auth.py editors_only):
another list's review, preview and every action are 404.

    GET  /lists/<slug>/review    the page: ?view=desktop|phone|text, ?scheme=light|dark,
                                 ?topic=a&topic=b or ?email= (as one reader would see it)
    GET  /lists/<slug>/preview   the email itself (what the frames show), as the sender
                                 renders it (digest.issue.next_issue_email); ?format=text
    POST /lists/<slug>/approve | cancel | pause | resume | test   (digest/editors/approval.py)

A preview is the email exactly as sent, with one difference: its links carry a
preview token, which works for no reader (links.preview_token). `?email=` shows the
email a given reader would get (their topics and greeting), never their links.

Dark mode: a frame cannot be told to prefer dark, so `?scheme=dark` applies the
email's own `prefers-color-scheme: dark` rules unconditionally (and `light` drops
them), inside its <style> elements only: what Apple Mail and iOS Mail show. Clients
that invert colours themselves (Gmail's apps, Outlook) are not emulated; the page says so.

CSP: the strict default (web/app.py) with one change per route: the preview may be
framed by our own pages (frame-ancestors 'self'), the review page may frame our own
pages (frame-src 'self'). Nothing else is loosened and no page runs a script.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, current_app, g, make_response, request

from digest.deliver import make_sender
from digest.editors import approval
from digest.errors import InvalidInput, NotFound, TransportError
from digest.issue import next_issue_email
from digest.models import DigestList
from digest.preflight import preflight_next_issue
from digest.web.auth import current_account, editor_page, editors_only
from digest.web.manage import flash_redirect, flashed
from digest.web.shared import SECURITY_HEADERS, shared

blueprint = Blueprint("review", __name__)
editors_only(blueprint)

WIDTHS = {"desktop": 700, "phone": 375}
VIEWS = (*WIDTHS, "text")
SCHEMES = ("light", "dark")
_STYLE = re.compile(r"(<style\b[^>]*>)(.*?)(</style>)", re.S | re.I)
_SCHEME_MEDIA = re.compile(r"@media\s*\(\s*prefers-color-scheme\s*:\s*(dark|light)\s*\)", re.I)
_SCHEME_META = re.compile(r'(<meta\s+name="(?:color-scheme|supported-color-schemes)"\s+content=")[^"]*(")', re.I)


def csp(**directives: str) -> str:
    """The app's strict policy with these directives set (frame_src="'self'" -> frame-src 'self')."""
    policy = dict(p.strip().split(" ", 1) for p in SECURITY_HEADERS["Content-Security-Policy"].split(";")
                  if p.strip())
    policy.update({k.replace("_", "-"): v for k, v in directives.items()})
    return "; ".join(f"{k} {v}" for k, v in policy.items())


def force_scheme(html: str, scheme: str) -> str:
    """The email as a client in `scheme` shows it: its colour-scheme media rules made
    unconditional (or dropped), in <style> only, so no feed text is touched."""

    def media(m: re.Match[str]) -> str:
        return "@media all" if m.group(1).lower() == scheme else "@media not all"

    html = _STYLE.sub(lambda m: m.group(1) + _SCHEME_MEDIA.sub(media, m.group(2)) + m.group(3), html)
    return _SCHEME_META.sub(rf"\g<1>{scheme}\g<2>", html)


class CeleryQueue:
    """Hands approved work to the workers by task name (routed by digest/ops/queues.py: start_slot
    and send_issue to `build`, send_batch to `send`). The web process needs Celery only to send."""

    def __init__(self, settings: Any, store: Any) -> None:
        from digest.celery_app import make_celery

        self._celery, self.store = make_celery(settings), store

    def start_slot(self, list_slug: str, slot: str) -> None:
        self._celery.send_task("digest.start_slot", args=[list_slug, slot])

    def send_issue(self, list_slug: str) -> None:
        self._celery.send_task("digest.send_issue", args=[list_slug])

    def send_batches(self, issue_id: str) -> None:
        from digest.deliver.ledger import Ledger

        for batch_id in Ledger(self.store).batch_ids(issue_id, ("pending", "retry")):
            self._celery.send_task("digest.send_batch", args=[issue_id, batch_id])


def queue() -> approval.Queue:
    """The app's queue: Celery, unless the app was given another (tests, the demo: InlineQueue)."""
    if "digest_queue" not in current_app.extensions:
        current_app.extensions["digest_queue"] = CeleryQueue(shared().settings, shared().store)
    return current_app.extensions["digest_queue"]  # type: ignore[no-any-return]


# -- what to show -------------------------------------------------------------------


def _topics(lst: DigestList, values: list[str]) -> set[str] | None:
    """The chosen topics of this list (unknown ones ignored); None: every topic."""
    known = {t.slug for t in lst.topics}
    chosen = {t for v in values for t in v.split(",") if t in known}
    return chosen or None


def _selection(lst: DigestList, args: Any, strict: bool = False) -> tuple[set[str] | None, str, str, str]:
    """(topics, email, reader's name, error) of ?email= (that reader's topics and greeting) and
    ?topic=a&topic=b or ?topics=a,b (these topics, the reader's or not). `strict`: a bad or
    unknown address raises (400, 404) instead of coming back as the error."""
    topics = _topics(lst, args.getlist("topic") + args.getlist("topics"))
    email = args.get("email", "").strip()[:320]
    if not email:
        return topics, "", "", ""
    try:
        sub = shared().store.get_subscriber(lst.slug, email)
    except (NotFound, InvalidInput) as exc:
        if strict:
            raise
        return topics, "", "", str(exc)
    return topics or (set(sub.topics) if sub.topics else None), sub.email, sub.name, ""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _by() -> str:
    account = current_account()
    assert account is not None  # editors_only
    return account.email


@blueprint.get("/lists/<slug>/preview")
def preview(slug: str) -> Response:
    """The next issue as it will be sent, for one reader's topics and greeting, never their links."""
    app, lst = shared(), g.editor_list
    topics, email, name, _ = _selection(lst, request.args, strict=True)
    content, _, mail = next_issue_email(app.store, app.settings, slug, topics, name)
    if mail is None:
        abort(404, description="the next issue has no articles yet" if content.is_empty else
              f"none of the topics {', '.join(sorted(topics or ()))} has articles in the next issue")
    html, text = mail
    if request.args.get("format") == "text":
        return Response(text, mimetype="text/plain")
    if request.args.get("scheme") in SCHEMES:
        html = force_scheme(html, request.args["scheme"])
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = csp(frame_ancestors="'self'")
    return response


def review_page(lst: DigestList, status: int = 200, notice: str = "", error: str = "",
                form: dict[str, Any] | None = None) -> Response:
    app, args = shared(), request.args
    view = args.get("view") if args.get("view") in VIEWS else "desktop"
    scheme = args.get("scheme") if args.get("scheme") in SCHEMES else "light"
    topics, email, name, selection_error = _selection(lst, args)
    text = ""
    if view == "text":
        _, _, mail = next_issue_email(app.store, app.settings, lst.slug, topics, name)
        text = mail[1] if mail else ""
    explicit = _topics(lst, args.getlist("topic") + args.getlist("topics"))
    query = {"topics": ",".join(sorted(explicit)) if explicit else "", "email": email}
    frame = f"/lists/{lst.slug}/preview?" + urlencode({**{k: v for k, v in query.items() if v}, "scheme": scheme})
    here = {k: v for k, v in {**query, "view": view, "scheme": scheme}.items() if v}
    page, code = editor_page(
        "editor/review.html", status, lst=lst, view=view, scheme=scheme, widths=WIDTHS, frame=frame,
        link=lambda **change: f"/lists/{lst.slug}/review?" + urlencode({**here, **change}),
        chosen=topics or set(), email=email, selection_error=selection_error, text=text,
        report=preflight_next_issue(app.store, app.settings, lst.slug), state=approval.approval_state(
            app.store, lst, _now()), notice=notice, error=error, form=form or {},
    )
    response = make_response(page, code)
    response.headers["Content-Security-Policy"] = csp(frame_src="'self'")
    return response


@blueprint.get("/lists/<slug>/review")
def review(slug: str) -> Response:
    return review_page(g.editor_list, notice=flashed().get("notice", ""))


# -- actions ------------------------------------------------------------------------


def _act(action: Any, **form: Any) -> Response:
    """Run an action of digest.editors.approval. Done: back to the review page with what it did (post,
    redirect, get: reloading the page does not send a test or approve twice). Refused: the
    page with why, and the form as it was filled."""
    try:
        notice = action()
    except (InvalidInput, TransportError) as exc:  # refused, or the sender would not take a test
        return review_page(g.editor_list, 409, error=str(exc), form=form)
    return flash_redirect(f"/lists/{g.editor_list.slug}/review", notice)


@blueprint.post("/lists/<slug>/approve")
def approve(slug: str) -> Response:
    when = "slot" if request.form.get("when") == "slot" else "now"
    return _act(lambda: approval.approve(shared().store, shared().settings, queue(), slug,
                                         request.form.get("slot", ""), _by(), _now(), when))


@blueprint.post("/lists/<slug>/cancel")
def cancel(slug: str) -> Response:
    return _act(lambda: approval.cancel(shared().store, slug, request.form.get("slot", ""), _by(), _now()))


@blueprint.post("/lists/<slug>/pause")
def pause(slug: str) -> Response:
    return _act(lambda: approval.pause(shared().store, slug, request.form.get("issue", ""), _by()))


@blueprint.post("/lists/<slug>/resume")
def resume(slug: str) -> Response:
    return _act(lambda: approval.resume(shared().store, queue(), slug, request.form.get("issue", ""), _by()))


@blueprint.post("/lists/<slug>/test")
def test_send(slug: str) -> Response:
    app, lst = shared(), g.editor_list
    to = request.form.get("to", "")[:2000]
    topics = _topics(lst, request.form.getlist("topic"))

    def send() -> str:
        proof = approval.test_send(app.store, app.settings, make_sender(app.settings), slug, to, topics, _by())
        return f"Test sent to {', '.join(proof.sent_to)}: “{proof.subject}”."
    return _act(send, to=to, test_topics=topics or set())
