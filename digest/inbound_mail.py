"""Reading what SendGrid's Inbound Parse posts: the subject, the envelope, and
whether SendGrid vouches for the sender (DKIM or SPF for the From domain).

Used by the mailto unsubscribe (digest/inbound.py) and by newsletters as a
source (digest/collect/newsletter.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from email.header import decode_header, make_header
from email.utils import getaddresses

from digest.errors import DigestError
from digest.store import normalize_email

_DKIM_RESULT = re.compile(r"@([A-Za-z0-9.-]+)\s*:\s*([a-z]+)")


def mail_subject(raw: str) -> str:
    text = raw[:2000]
    if "=?" in text:  # an RFC 2047 encoded word SendGrid passed through
        try:
            text = str(make_header(decode_header(text)))
        except (ValueError, LookupError, UnicodeDecodeError):
            pass
    return " ".join(text.split())


def mail_envelope(form: Mapping[str, str]) -> dict[str, object]:
    try:
        envelope = json.loads(form.get("envelope") or "{}")
    except ValueError:
        return {}
    return envelope if isinstance(envelope, dict) else {}


def _one_address(header: str) -> str:
    """The one address a From header names, "" when it names several or reads two ways.

    Python before 3.11.10 reads `amy@example.com)<mallory@example.com>` as amy's address
    where mail software (and the provider that signed it) reads mallory's (CVE-2023-27043):
    a From is believed only when its address is all of it or stands last in <...>.
    """
    pairs = getaddresses([header])
    if len(pairs) != 1 or not pairs[0][1]:
        return ""
    address, value = pairs[0][1], header.strip()
    return address if value == address or value.endswith(f"<{address}>") else ""


def authenticated_sender(form: Mapping[str, str]) -> tuple[str | None, str]:
    """The sender's address when SendGrid vouches for its domain, else (None, why not)."""
    envelope_from = mail_envelope(form).get("from")
    envelope_from = envelope_from if isinstance(envelope_from, str) else ""
    raw_from = form.get("from", "")[:2000]
    header_from = _one_address(raw_from)
    if raw_from.strip() and not header_from:  # never the envelope's instead: it may be the one other reading
        return None, "no valid sender address: the From header names no single address"
    try:
        sender = normalize_email(header_from or envelope_from)
    except DigestError:
        return None, "no valid sender address"
    domain = sender.rpartition("@")[2]
    dkim = {(d.lower(), result) for d, result in _DKIM_RESULT.findall(form.get("dkim", "")[:5000])}
    if (domain, "pass") in dkim:
        return sender, ""
    spf_pass = form.get("SPF", "").strip().lower() == "pass"
    if spf_pass and envelope_from.rpartition("@")[2].lower() == domain:
        return sender, ""
    return None, f"sender {sender} not authenticated (no DKIM pass for {domain}, no SPF pass for it)"
