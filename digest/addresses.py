"""Email addresses: the one normal form every key and comparison uses, its hash, and
the mailbox an address reaches (what limits per address count by).

`normalize_email` is email_validator's normalised address, lower-cased. Checking
one with email_validator costs ~25 µs, which made it most of a large import's time.
Nearly every real address is plain ASCII (letters, digits and a few symbols
before the @, a dotted host name ending in a letter TLD); for those a strict
pattern proves that email_validator would accept them, and lower-casing is the
whole of its normalisation, in ~1 µs. Everything else (internationalised names,
punycode, quoted local parts, special-use domains, anything near a length limit)
goes to email_validator itself. tests/test_import.py holds both to the same
answer on a hostile corpus and on random strings.
"""

from __future__ import annotations

import hashlib
import re

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from digest.errors import InvalidInput

# RFC 5322 atext, lower case (email_validator's DOT_ATOM_TEXT after lower()), dot-separated;
# then host labels of letters, digits and inner hyphens (never "--": punycode and the
# "ab--" rule are email_validator's business), and a TLD of letters only.
_PLAIN = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?!.*--)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)
_SPECIAL_USE = tuple(f".{d}" for d in SPECIAL_USE_DOMAIN_NAMES)
_MAX_LENGTH = 254  # email_validator's EMAIL_MAX_LENGTH


def plain_address(raw: str) -> str | None:
    """The normal form of an address that is certainly valid and plain; None: ask email_validator."""
    value = raw.strip()
    if not value.isascii() or len(value) > _MAX_LENGTH:
        return None
    value = value.lower()
    if _PLAIN.fullmatch(value) is None or value.endswith(_SPECIAL_USE):
        return None
    return value


def validated_address(raw: str) -> str:
    """email_validator's answer alone (the reference the fast path is tested against)."""
    try:
        info = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(f"invalid email address {raw!r}: {exc}") from None
    return info.normalized.lower()


def normalize_email(raw: str) -> str:
    """The address's normal form; InvalidInput naming it when it is not a valid address."""
    return plain_address(raw) or validated_address(raw)


def address_hash(email: str) -> str:
    """SHA-256 (hex) of a normalised address: how a forgotten person is still recognised."""
    return hashlib.sha256(email.encode("utf-8")).hexdigest()


_DOTLESS = ("gmail.com", "googlemail.com")  # Gmail ignores dots before the @


def mailbox(address: str) -> str:
    """The mailbox a normalised address reaches, as the daily limit counts it: most providers
    deliver name+anything@ to name@, so without this a stranger could send one inbox a
    confirmation for each of name+1@, name+2@, ... (and n.ame@, na.me@, ... at Gmail)."""
    local, _, domain = address.rpartition("@")
    local = local.split("+", 1)[0] or local
    if domain in _DOTLESS:
        local, domain = local.replace(".", "") or local, "gmail.com"
    return f"{local}@{domain}"
