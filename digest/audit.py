"""The editors' audit log: every editor action recorded with who and when.

`record` is the one way in. Actions on a list go to that list's log (shown at
/lists/<list>/audit to whoever manages the list); actions on no list (sign-ins,
sign-outs, accounts, feeds) go to the editors' log (/audit, admins only). Refused sign-ins,
which anyone can cause, go to a capped log of their own (shown apart on /audit): in the
editors' log, a flood of them would push every real record out of its cap.
What is recorded is shown as text, never as markup, and cut to a sane length.
"""

from __future__ import annotations

from digest.store import Store
from digest.store.audit import AuditEntry

MAX_FIELD_CHARS = 500

# Actions recorded so far (more come with the editors' actions: corrections, test sends, ...).
SIGN_IN, SIGN_IN_REFUSED, SIGN_OUT, APPROVE = "sign-in", "sign-in refused", "sign-out", "approve"


def record(store: Store, list_slug: str | None, account: str, action: str, detail: str = "") -> None:
    """Append one action to the list's log (None: the editors' log; a refused sign-in: its own log)."""
    fields = account[:MAX_FIELD_CHARS], action[:MAX_FIELD_CHARS], detail[:MAX_FIELD_CHARS]
    if action == SIGN_IN_REFUSED:
        store.append_refused_sign_in(*fields)
    else:
        store.append_audit(list_slug, *fields)


def entries(store: Store, list_slug: str | None, count: int = 200) -> list[AuditEntry]:
    """The newest entries, newest first."""
    return store.audit_entries(list_slug, count)


def refused_sign_ins(store: Store, count: int = 200) -> list[AuditEntry]:
    """The newest refused sign-ins, newest first."""
    return store.refused_sign_ins(count)
