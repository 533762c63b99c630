"""The editors' app: the dashboard, a list's page, its audit log (the next issue's
review, preview and approval: web/review.py).

Signed-in editors only; the rule is set once on the blueprint (web/auth.py
editors_only): signed out, pages send to /login; a list the account does not
manage is 404 on every page and action of it, as if it did not exist.
"""

from __future__ import annotations

from flask import Blueprint, abort, g

from digest import audit
from digest.editors.dashboard import dashboards, list_dashboard
from digest.models import utcnow
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
    """Sign-ins and sign-outs of every account, and refused sign-ins apart: admins only."""
    account = current_account()
    if account is None or not account.is_admin:
        abort(404)
    store = shared().store
    return editor_page("editor/audit.html", lst=None, entries=audit.entries(store, None),
                       refused=audit.refused_sign_ins(store))
