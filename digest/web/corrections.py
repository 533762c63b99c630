"""Corrections of a list's next issue in the editors' app: /lists/<list>/edit.

One page lists the next issue's sections and stories (lead article, "also covered
by", topic and confidence) with a form for each correction; each form POSTs to
/lists/<list>/edit/<action>, which calls the service (digest/editors/corrections.py, as the
command line does) and answers with a redirect back to the page (POST, redirect,
GET: a reload never repeats an action). Signed-in editors of the list only, CSRF
checked: the rule is set once on the blueprint (web/auth.py editors_only). No
JavaScript: every form works with a plain submit.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, abort, redirect, request

from digest.editors import corrections
from digest.errors import DigestError
from digest.web.auth import current_account, editor_page, editors_only
from digest.web.shared import shared

blueprint = Blueprint("corrections", __name__)
editors_only(blueprint)

MAX_ID_CHARS = 80  # story and article ids are a few dozen characters; anything longer is not one

# What the page says after each action (never text from the request: nothing is reflected).
DONE = {
    "pin": "Pinned: the story leads its section.", "unpin": "Unpinned.",
    "exclude": "Left out of the next issue (still collected).", "include": "Back in the next issue.",
    "up": "Moved up.", "down": "Moved down.",
    "topic": "Moved to the topic; the list learns from it.", "undo": "The newest topic correction was undone.",
    "nothing-to-undo": "There was no topic correction to undo.",
    "split": "Split out into a story of its own.", "merge": "Merged into one story.",
    "wording": "Saved.", "unchanged": "Nothing changed.",
}


def _field(name: str) -> str:
    value = request.form.get(name, "")
    if len(value) > MAX_ID_CHARS:
        abort(400, description=f"{name} is too long")
    return value


def _by() -> str:
    account = current_account()
    assert account is not None  # editors_only let the request in
    return account.email


@blueprint.get("/lists/<slug>/edit")
def edit_page(slug: str) -> tuple[str, int]:
    done = request.args.get("done", "")
    return _page(slug, notice=DONE.get(done, ""))


def _page(slug: str, status: int = 200, notice: str = "", error: str = "") -> tuple[str, int]:
    app = shared()
    view = corrections.edit_view(app.store, app.settings, slug)
    return editor_page("editor/edit.html", status, view=view, lst=view.content.digest_list, notice=notice,
                       error=error, nav="edit", preheader_max=corrections.PREHEADER_MAX_CHARS)


# -- actions: each returns the DONE key to show, and where on the page to land -----------------

def _pin(slug: str) -> tuple[str, str]:
    on = request.form.get("on") != "0"
    story = corrections.pin(shared().store, shared().settings, slug, _field("story"), _by(), on=on)
    return ("pin" if on else "unpin"), story.id


def _exclude(slug: str) -> tuple[str, str]:
    corrections.exclude(shared().store, shared().settings, slug, _field("article"), _by())
    return "exclude", "left-out"


def _include(slug: str) -> tuple[str, str]:
    corrections.include(shared().store, slug, _field("article"), _by())
    return "include", "left-out"


def _move(slug: str) -> tuple[str, str]:
    direction = request.form.get("direction")
    if direction not in ("up", "down"):
        abort(400, description="direction is up or down")
    story = _field("story")
    corrections.move_story(shared().store, shared().settings, slug, story, -1 if direction == "up" else 1, _by())
    return direction, story


def _topic(slug: str) -> tuple[str, str]:
    corrections.move_to_topic(shared().store, shared().settings, slug, _field("article"), _field("topic"), _by())
    return "topic", ""


def _undo(slug: str) -> tuple[str, str]:
    event = corrections.undo_topic(shared().store, slug, _by())
    return ("undo" if event else "nothing-to-undo"), ""


def _split(slug: str) -> tuple[str, str]:
    story = _field("story")
    corrections.split(shared().store, shared().settings, slug, story, [_field("article")], _by())
    return "split", story


def _merge(slug: str) -> tuple[str, str]:
    story = _field("story")
    corrections.merge(shared().store, shared().settings, slug, [story, _field("other")], _by())
    return "merge", story


def _wording(slug: str) -> tuple[str, str]:
    form = request.form
    changed = corrections.edit_wording(shared().store, slug, _by(), subject=form.get("subject", ""),
                                       preheader=form.get("preheader", ""), intro=form.get("intro", ""))
    return ("wording" if changed else "unchanged"), "wording"


ACTIONS: dict[str, Callable[[str], tuple[str, str]]] = {
    "pin": _pin, "exclude": _exclude, "include": _include, "move": _move, "topic": _topic, "undo": _undo,
    "split": _split, "merge": _merge, "wording": _wording,
}


@blueprint.post("/lists/<slug>/edit/<action>")
def act(slug: str, action: str) -> Response | tuple[str, int]:
    handler = ACTIONS.get(action)
    if handler is None:
        abort(404)
    try:
        done, anchor = handler(slug)
    except DigestError as exc:  # a stale page (the story changed meanwhile) or a refused value
        return _page(slug, 400, error=str(exc))
    return redirect(f"/lists/{slug}/edit?done={done}" + (f"#{anchor}" if anchor else ""), 303)
