"""Editor accounts: who may sign in to the editors' app, with which role and lists.

    P:editor:accounts       hash  email -> Account JSON (the argon2 hash of the password, never the password)

The rules (who may do what, how passwords are checked) are in digest/editors/accounts.py;
this module only keeps the records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from digest.errors import NotFound
from digest.models import utcnow
from digest.store.base import StoreBase

ADMIN, EDITOR = "admin", "editor"


class Account(BaseModel):
    email: str
    role: Literal["admin", "editor"] = EDITOR
    lists: list[str] = Field(default_factory=list)  # the lists an editor manages; admins manage all
    password_hash: str = ""
    disabled: bool = False
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    def can_manage(self, list_slug: str) -> bool:
        return not self.disabled and (self.is_admin or list_slug in self.lists)


class AccountStore(StoreBase):
    def save_account(self, account: Account) -> None:
        self.r.hset(self.key("editor", "accounts"), account.email, account.model_dump_json())

    def find_account(self, email: str) -> Account | None:
        raw = self.r.hget(self.key("editor", "accounts"), email)
        return Account.model_validate_json(raw) if raw else None

    def get_account(self, email: str) -> Account:
        account = self.find_account(email)
        if account is None:
            raise NotFound("editor account", email)
        return account

    def accounts(self) -> list[Account]:
        rows = self.r.hgetall(self.key("editor", "accounts"))
        return sorted((Account.model_validate_json(v) for v in rows.values()), key=lambda a: a.email)

    def delete_account(self, email: str) -> bool:
        return bool(self.r.hdel(self.key("editor", "accounts"), email))
