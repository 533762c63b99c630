"""A list's subscribers as its editors manage them: found, added one at a time, unsubscribed, exported.

Adding follows people.add_person and the list's opt-in: someone new on a double
opt-in list is pending and gets the confirmation email the public form sends;
only an admin may add someone as active at once (single opt-in, on a list set to
it), because that records consent the person did not give here. Imports are
digest/editors/import_jobs.py.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from digest.config import Settings
from digest.confirm import send_confirmations
from digest.deliver.base import Sender
from digest.errors import InvalidInput
from digest.people import add_person
from digest.store import Store
from digest.store.subscriber_search import SearchPage, SubscriberSearch
from digest.subscriber_csv import EXPORT_COLUMNS, export_row


@dataclass(frozen=True)
class Added:
    email: str
    status: str
    new: bool
    message: str  # what happened, for the editor


def add_subscriber(store: Store, settings: Settings, sender: Sender, list_slug: str, email: str, *,
                   name: str | None = None, topics: list[str] | None = None, opt_in: str | None = None,
                   may_skip_confirmation: bool = False, source: str = "editor") -> Added:
    """Add someone (module docstring), or change the name and topics of someone on the list."""
    if opt_in == "single" and not may_skip_confirmation:
        raise InvalidInput("only an admin may add someone without asking them to confirm")
    if not may_skip_confirmation:
        opt_in = "double"
    asks = (opt_in or store.get_list(list_slug).opt_in) == "double"
    if asks:
        settings.require_secret_key()  # before anyone is added: the link is signed
    sub, new = add_person(store, list_slug, email, name=name, topics=topics, source=source, opt_in=opt_in)
    if not new:
        state = "not resubscribed" if sub.status not in ("active", "paused", "pending") else "updated"
        return Added(sub.email, sub.status, False, f"{sub.email} is {sub.status} on {list_slug}: {state}")
    if sub.status == "active":
        return Added(sub.email, sub.status, True, f"{sub.email} subscribed to {list_slug}")
    if sub.status == "pending" and asks:
        sent = send_confirmations(store, settings, sender, list_slug, [sub.email])
        how = "a confirmation email was sent" if sent else "no confirmation sent (its daily limit is reached)"
        return Added(sub.email, sub.status, True,
                     f"{sub.email} added to {list_slug}, pending until they confirm: {how}")
    return Added(sub.email, sub.status, True,
                 f"{sub.email} is on the suppression list: added to {list_slug} as {sub.status}, never mailed")


def unsubscribe(store: Store, list_slug: str, email: str) -> str:
    """Unsubscribe an address (it stays on record and is not mailed again); what happened."""
    was = store.unsubscribe(list_slug, email)  # NotFound: not on the list
    return f"{email} unsubscribed from {list_slug}" if was else f"{email} was not getting {list_slug}; now unsubscribed"


def search(store: Store, list_slug: str, prefix: str, cursor: int = 0) -> SearchPage:
    return SubscriberSearch(store.r, store.prefix).search_subscribers(list_slug, prefix, cursor)


def csv_chunks(store: Store, list_slug: str, rows_per_chunk: int = 1000) -> Iterator[str]:
    """Every subscriber of a list as CSV (subscriber_csv.export_csv's columns and cells), a
    chunk of text at a time: a download of a million rows holds one chunk in memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    rows = 0
    for sub in store.subscribers(list_slug):
        writer.writerow(export_row(sub))
        rows += 1
        if rows % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
