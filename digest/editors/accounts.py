"""Editor accounts: creating them, their passwords, their lists, and checking a sign-in.

Two roles: an admin manages every list and the accounts; an editor manages only
the lists they are given. Passwords are kept as argon2id hashes (argon2-cffi's
defaults, RFC 9106's low-memory profile) and never leave this module in the clear.

`authenticate` takes about the same time whether the address has an account or
not (an unknown address is checked against a hash of a random password), so
timing does not tell who has an account; its answer is None either way.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from digest.addresses import normalize_email
from digest.errors import InvalidInput, NotFound
from digest.store import Store
from digest.store.accounts import ADMIN, EDITOR, Account

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024  # hashing is linear in the length; nobody types more
ROLES = (ADMIN, EDITOR)

_hasher = PasswordHasher()


@lru_cache(maxsize=1)
def _unknown_user_hash() -> str:
    """What an unknown address's password is checked against, so it costs a real check."""
    return _hasher.hash(secrets.token_urlsafe(24))


def account_email(raw: str) -> str:
    return normalize_email(raw)


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidInput(f"a password may have at most {MAX_PASSWORD_CHARS} characters")
    return password


def _check_lists(store: Store, lists: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(lists))
    for slug in chosen:
        store.get_list(slug)  # NotFound naming it
    return chosen


def create_account(store: Store, email: str, password: str, role: str = EDITOR,
                   lists: Iterable[str] = ()) -> Account:
    """A new account; InvalidInput when the address has one already or the password is too short."""
    if role not in ROLES:
        raise InvalidInput(f"role {role!r} is not one of {', '.join(ROLES)}")
    email = account_email(email)
    if store.find_account(email) is not None:
        raise InvalidInput(f"{email} has an account already")
    account = Account(email=email, role=role, lists=_check_lists(store, lists),  # type: ignore[arg-type]
                      password_hash=_hasher.hash(check_password(password)))
    store.save_account(account)
    return account


def set_password(store: Store, email: str, password: str) -> Account:
    """A new password; every session of the account ends (sign in again everywhere)."""
    account = store.get_account(account_email(email))
    account = account.model_copy(update={"password_hash": _hasher.hash(check_password(password))})
    store.save_account(account)
    store.delete_sessions_of(account.email)
    return account


def grant(store: Store, email: str, lists: Iterable[str]) -> Account:
    account = store.get_account(account_email(email))
    account = account.model_copy(update={"lists": _check_lists(store, [*account.lists, *lists])})
    store.save_account(account)
    return account


def revoke(store: Store, email: str, lists: Iterable[str]) -> Account:
    """Take lists away; takes effect on the editor's next request (each one reads the account)."""
    account = store.get_account(account_email(email))
    gone = set(lists)
    account = account.model_copy(update={"lists": [s for s in account.lists if s not in gone]})
    store.save_account(account)
    return account


def set_disabled(store: Store, email: str, disabled: bool = True) -> Account:
    """Disable (no sign-in, every session ended) or enable an account."""
    account = store.get_account(account_email(email))
    account = account.model_copy(update={"disabled": disabled})
    store.save_account(account)
    if disabled:
        store.delete_sessions_of(account.email)
    return account


def remove_account(store: Store, email: str) -> None:
    email = account_email(email)
    if not store.delete_account(email):
        raise NotFound("editor account", email)
    store.delete_sessions_of(email)


def authenticate(store: Store, email: str, password: str) -> Account | None:
    """The account whose password this is, if enabled; None otherwise, in about the same time."""
    try:
        account = store.find_account(account_email(email))
    except InvalidInput:
        account = None
    usable = account is not None and not account.disabled and len(password) <= MAX_PASSWORD_CHARS
    encoded = account.password_hash if usable and account else _unknown_user_hash()
    try:
        _hasher.verify(encoded, password[:MAX_PASSWORD_CHARS])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if not usable or account is None:
        return None
    if _hasher.check_needs_rehash(account.password_hash):  # the defaults grew stronger since it was set
        account = account.model_copy(update={"password_hash": _hasher.hash(password)})
        store.save_account(account)
    return account
