"""A list's topics in the editors' app (/lists/<list>/topics), and what the managing pages share.

Topics: listed with what each catches of the window now (from the current
filings), created, edited (name, description, keywords; the slug stays) and
deleted. Every change replaces the list's topics, which clears its filings: the
window is filed again at the next preview or issue (digest/editors/topic_admin.py).

The managing pages (feeds: web/feeds_admin.py, subscribers: web/subscribers_admin.py,
topics: here) share one way of working: every form POSTs with the session's CSRF
token (web/auth.py checks it), is recorded in the audit log with the account's
email, and ends in a redirect to a page (post, redirect, get) that shows what was
done through a notice only the acting account can read (store/notices.py).
"""

from __future__ import annotations

from flask import Blueprint, Response, g, redirect, request

from digest import audit
from digest.editors.topic_admin import delete_topic, save_topic, split_keywords, topic_catches
from digest.errors import DigestError, NotFound
from digest.models import utcnow
from digest.store.notices import NoticeStore
from digest.web.auth import current_account, editor_page, editors_only
from digest.web.shared import shared

blueprint = Blueprint("manage", __name__)
editors_only(blueprint)


# -- shared by the managing pages -------------------------------------------------------

def _notices() -> NoticeStore:
    store = shared().store
    return NoticeStore(store.r, store.prefix)


def acting() -> str:
    """The signed-in account's email (the editors' rule ran: there is one)."""
    account = current_account()
    assert account is not None
    return account.email


def flash_redirect(path: str, notice: str) -> Response:
    """303 to a page that shows `notice` (post, redirect, get)."""
    notice_id = _notices().put_notice(acting(), notice)
    joiner = "&" if "?" in path else "?"
    return redirect(f"{path}{joiner}notice={notice_id}", 303)  # type: ignore[return-value]


def flashed() -> dict[str, str]:
    text = _notices().read_notice(acting(), request.args.get("notice", ""))
    return {"notice": text} if text else {}


def error_status(exc: DigestError) -> int:
    return 404 if isinstance(exc, NotFound) else 400


# -- topics -------------------------------------------------------------------------------

def _topics_page(status: int = 200, **context: object) -> tuple[str, int]:
    lst = shared().store.get_list(g.editor_list.slug)  # as saved now
    return editor_page("editor/topics.html", status, lst=lst, catches=topic_catches(shared().store, lst, utcnow()),
                       form=request.form, **flashed(), **context)


def _form_fields() -> dict[str, object]:
    form = request.form
    return {"name": form.get("name", "")[:200], "description": form.get("description", "")[:1000],
            "keywords": split_keywords(form.get("keywords", "")[:5000])}


@blueprint.get("/lists/<slug>/topics")
def topics(slug: str) -> tuple[str, int]:
    return _topics_page()


@blueprint.post("/lists/<slug>/topics")
def create_topic(slug: str) -> tuple[str, int] | Response:
    try:
        topic = save_topic(shared().store, slug, request.form.get("slug", "")[:63], new=True,
                           **_form_fields())  # type: ignore[arg-type]
    except DigestError as exc:
        return _topics_page(error_status(exc), error=str(exc), editing="")
    audit.record(shared().store, slug, acting(), "topic created", f"{topic.slug}: {topic.name}")
    return flash_redirect(f"/lists/{slug}/topics", f"Topic {topic.name} created; the next preview files the "
                                                   "window again.")


@blueprint.post("/lists/<slug>/topics/<topic_slug>/edit")
def edit_topic(slug: str, topic_slug: str) -> tuple[str, int] | Response:
    try:
        topic = save_topic(shared().store, slug, topic_slug, **_form_fields())  # type: ignore[arg-type]
    except DigestError as exc:
        return _topics_page(error_status(exc), error=str(exc), editing=topic_slug)
    audit.record(shared().store, slug, acting(), "topic edited",
                 f"{topic.slug}: {topic.name}; keywords {', '.join(topic.keywords) or '(none)'}")
    return flash_redirect(f"/lists/{slug}/topics", f"Topic {topic.name} saved; the next preview files the window "
                                                   "again.")


@blueprint.post("/lists/<slug>/topics/<topic_slug>/delete")
def remove_topic(slug: str, topic_slug: str) -> tuple[str, int] | Response:
    try:
        delete_topic(shared().store, slug, topic_slug)
    except DigestError as exc:
        return _topics_page(error_status(exc), error=str(exc))
    audit.record(shared().store, slug, acting(), "topic deleted", topic_slug)
    return flash_redirect(f"/lists/{slug}/topics", f"Topic {topic_slug} deleted; its articles go to the other "
                                                   "topics or More news at the next preview.")
