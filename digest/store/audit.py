"""Who did what, when: the editors' audit log, capped.

    P:list:{L}:audit    stream  one entry per editor action on the list: account, action, detail
    P:editor:audit      stream  actions on no list: sign-ins, sign-outs, accounts, feeds
    P:editor:refused    stream  refused sign-ins, apart: anyone can add them, so a flood of
                                them must not push the editors' own records out of their cap

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
        self._append(self._audit_key(list_slug), account, action, detail)

    def append_refused_sign_in(self, account: str, action: str, detail: str) -> None:
        self._append(self.key("editor", "refused"), account, action, detail)

    def audit_entries(self, list_slug: str | None, count: int = 200) -> list[AuditEntry]:
        """The newest `count` entries, newest first."""
        return self._entries(self._audit_key(list_slug), count)

    def refused_sign_ins(self, count: int = 200) -> list[AuditEntry]:
        """The newest `count` refused sign-ins, newest first."""
        return self._entries(self.key("editor", "refused"), count)

    def _append(self, key: str, account: str, action: str, detail: str) -> None:
        self.r.xadd(key, {"account": account, "action": action, "detail": detail},
                    maxlen=AUDIT_MAX_ENTRIES, approximate=True)

    def _entries(self, key: str, count: int) -> list[AuditEntry]:
        rows = self.r.xrevrange(key, count=count)
        return [AuditEntry(int(entry_id.split("-")[0]) / 1000, f.get("account", ""), f.get("action", ""),
                           f.get("detail", "")) for entry_id, f in rows]
