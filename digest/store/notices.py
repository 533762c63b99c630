"""What an editor's action did, carried across its redirect (post, redirect, get).

    P:editor:notice:{id}   string  "account email|text", read once, expires after NOTICE_TTL

The redirect names only a random id, so a link cannot put words on the page, and
only the account that acted can read it.
"""

from __future__ import annotations

import secrets

from digest.store.base import StoreBase

NOTICE_TTL = 300


class NoticeStore(StoreBase):
    def put_notice(self, account: str, text: str) -> str:
        notice_id = secrets.token_urlsafe(12)
        self.r.set(self.key("editor", "notice", notice_id), f"{account}|{text[:2000]}", ex=NOTICE_TTL)
        return notice_id

    def read_notice(self, account: str, notice_id: str) -> str:
        """The text, if this account left it ("" otherwise); kept until it expires, so a reload shows it again."""
        if not notice_id or len(notice_id) > 40:
            return ""
        raw = self.r.get(self.key("editor", "notice", notice_id)) or ""
        owner, _, text = raw.partition("|")
        return text if owner == account else ""
