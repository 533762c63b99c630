"""A Sender that writes each message as an .eml file: digest runs with no account.

Files land in OUTBOX_DIR/<issue>/, one per recipient, with the substitutions and
headers SendGrid would apply already applied, so any mail client opens them and
shows what the subscriber would have seen.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, make_msgid
from pathlib import Path

from digest.deliver.base import Envelope
from digest.render import personalize

# Headers whose value mail clients read as a list of <URI>s (RFC 2369, RFC 8058): the
# email package would fold a long token into RFC 2047 encoded-words, which no client
# reads as a link. They are written as given, folded only after the comma between URIs.
_URI_HEADERS = frozenset({"list-unsubscribe", "list-unsubscribe-post"})


class _Policy(EmailPolicy):
    """SMTP's policy, with the URI headers as given, and folding that adds no space.

    The email package folds a line before an encoded-word as "word \\r\\n =?...": a
    reader unfolds that to two spaces ("half-empty  on…" in a subject). The space
    before the line break is dropped, so the fold itself is the one space.
    """

    def fold(self, name: str, value: str) -> str:
        if name.lower() not in _URI_HEADERS:
            return super().fold(name, value).replace(" " + self.linesep + " ", self.linesep + " ")
        return f"{name}: {value.replace('>, <', '>,' + self.linesep + ' <')}{self.linesep}"

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() not in _URI_HEADERS:
            folded = super().fold_binary(name, value)
            return folded.replace(b" " + self.linesep.encode() + b" ", self.linesep.encode() + b" ")
        return self.fold(name, value).encode("ascii")


_SMTP = _Policy(linesep="\r\n")  # as email.policy.SMTP


def _uri_header(name: str, value: str) -> str:
    """Refuse what would not be one plain header line: digest builds these values, so this is a bug."""
    if not value.isascii() or any(ch in value for ch in "\r\n\0"):
        raise ValueError(f"{name} must be plain ASCII on one line: {value!r}")
    return value


def _file_name(email: str) -> str:
    return re.sub(r"[^A-Za-z0-9@._+-]", "_", email) + ".eml"


class OutboxSender:
    name = "outbox"

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def send(self, envelope: Envelope) -> None:
        folder = self.directory / re.sub(r"[^A-Za-z0-9._-]", "_", envelope.custom_args.get("issue", "mail"))
        folder.mkdir(parents=True, exist_ok=True)
        domain = envelope.from_email.rsplit("@", 1)[-1]
        for rcpt in envelope.recipients:
            msg = EmailMessage(policy=_SMTP)
            msg["From"] = Address(envelope.from_name, addr_spec=envelope.from_email)
            msg["To"] = Address(rcpt.name, addr_spec=rcpt.email)
            msg["Subject"] = personalize(envelope.subject, rcpt.substitutions)
            msg["Date"] = format_datetime(datetime.now(timezone.utc))
            msg["Message-ID"] = make_msgid(domain=domain)
            if envelope.reply_to:
                msg["Reply-To"] = envelope.reply_to
            for name, value in {**envelope.headers, **rcpt.headers}.items():
                msg[name] = _uri_header(name, value) if name.lower() in _URI_HEADERS else value
            msg.set_content(personalize(envelope.text, rcpt.substitutions))
            msg.add_alternative(personalize(envelope.html, rcpt.substitutions), subtype="html")
            path = folder / _file_name(rcpt.email)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(msg.as_bytes())
            tmp.replace(path)  # whole files only, even if we crash mid-write
