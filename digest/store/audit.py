"""Who did what, when: the editors' audit log, capped.

    P:list:{L}:audit    stream  one entry per editor action on the list: account, action, detail
    P:editor:audit      stream  actions on no list: sign-ins, sign-outs, refused sign-ins

A stream's entry id is its time (milliseconds), so entries need no clock of
their own and come back in order. MAXLEN keeps the newest AUDIT_MAX_ENTRIES
(approximately: Redis trims whole nodes, which keeps XADD cheap).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import NamedTuple

from digest.store.base import StoreBase

AUDIT_MAX_ENTRIES = 10_000


class AuditEntry(NamedTuple):
    at: float  # Unix time
    account: str
    action: str
    detail: str

    @property
    def when(self) -> str:
        return datetime.fromtimestamp(self.at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


class AuditStore(StoreBase):
    def _audit_key(self, list_slug: str | None) -> str:
        return self.key("list", list_slug, "audit") if list_slug else self.key("editor", "audit")

    def append_audit(self, list_slug: str | None, account: str, action: str, detail: str) -> None:
        self.r.xadd(self._audit_key(list_slug), {"account": account, "action": action, "detail": detail},
                    maxlen=AUDIT_MAX_ENTRIES, approximate=True)

    def audit_entries(self, list_slug: str | None, count: int = 200) -> list[AuditEntry]:
        """The newest `count` entries, newest first."""
        rows = self.r.xrevrange(self._audit_key(list_slug), count=count)
        return [AuditEntry(int(entry_id.split("-")[0]) / 1000, f.get("account", ""), f.get("action", ""),
                           f.get("detail", "")) for entry_id, f in rows]
