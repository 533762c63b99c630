"""The editors' audit log: every editor action recorded with who and when.

`record` is the one way in. Actions on a list go to that list's log (shown at
/lists/<list>/audit to whoever manages the list); actions on no list (sign-ins,
sign-outs, refused sign-ins) go to the editors' log (/audit, admins only).
What is recorded is shown as text, never as markup, and cut to a sane length.
"""

from __future__ import annotations

from digest.store import Store
from digest.store.audit import AuditEntry

MAX_FIELD_CHARS = 500

# Actions recorded so far (more come with the editors' actions: corrections, test sends, ...).
SIGN_IN, SIGN_IN_REFUSED, SIGN_OUT, APPROVE = "sign-in", "sign-in refused", "sign-out", "approve"


def record(store: Store, list_slug: str | None, account: str, action: str, detail: str = "") -> None:
    """Append one action to the list's log (None: the editors' log)."""
    store.append_audit(list_slug, account[:MAX_FIELD_CHARS], action[:MAX_FIELD_CHARS], detail[:MAX_FIELD_CHARS])


def entries(store: Store, list_slug: str | None, count: int = 200) -> list[AuditEntry]:
    """The newest entries, newest first."""
    return store.audit_entries(list_slug, count)
