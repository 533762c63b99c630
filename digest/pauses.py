"""Readers' pauses: "no email for N weeks", and the end of it.

A paused subscriber leaves the send groups (status "paused", `paused_until` in
their profile) and is listed by when the pause ends (store/pauses.py); before
each issue is planned (deliver/send.py) the pauses that ended are lifted, so the
reader gets that issue.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from digest.errors import InvalidField, InvalidInput, NotFound
from digest.store import Store

GETTING_MAIL = ("active", "paused")
MAX_PAUSE_WEEKS = 12


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def pause(store: Store, list_slug: str, email: str, weeks: int, now: datetime | None = None) -> datetime:
    """Pause an active (or extend a paused) subscriber for `weeks` (1-12); returns when it ends."""
    if isinstance(weeks, bool) or not isinstance(weeks, int) or not 1 <= weeks <= MAX_PAUSE_WEEKS:
        raise InvalidField("weeks", f"pause for 1 to {MAX_PAUSE_WEEKS} weeks (got {weeks!r})")
    sub = store.get_subscriber(list_slug, email)
    if sub.status not in GETTING_MAIL:
        raise InvalidInput(f"{sub.email} is {sub.status}: only a subscriber who gets mail can pause it")
    until = (now or utcnow()) + timedelta(weeks=weeks)
    store.set_status(list_slug, sub.email, "paused")
    store.update_profile(list_slug, sub.email, paused_until=until)
    store.add_pause(list_slug, sub.email, until)
    return until


def resume(store: Store, list_slug: str, email: str) -> bool:
    """End a pause now; True if the subscriber was paused (and is active again, unless suppressed)."""
    sub = store.get_subscriber(list_slug, email)
    store.drop_pause(list_slug, sub.email)
    if sub.status != "paused":
        return False
    store.set_status(list_slug, sub.email, "active")
    store.update_profile(list_slug, sub.email, paused_until=None)
    return True


def resume_due_pauses(store: Store, list_slug: str, now: datetime | None = None) -> int:
    """Make active again every paused subscriber whose pause has ended; returns how many.

    Call it before planning an issue. The record decides: someone who unsubscribed
    while paused, or whose pause was extended, is left as they are.
    """
    now = now or utcnow()
    resumed = 0
    for email in store.pauses_due(list_slug, now):
        try:
            sub = store.get_subscriber(list_slug, email)
        except NotFound:
            store.drop_pause(list_slug, email)
            continue
        if sub.status == "paused" and sub.paused_until is not None and sub.paused_until > now:
            store.add_pause(list_slug, sub.email, sub.paused_until)  # extended: look again then
            continue
        resumed += resume(store, list_slug, sub.email)
    return resumed
