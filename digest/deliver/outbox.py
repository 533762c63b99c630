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
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from pathlib import Path

from digest.deliver.base import Envelope
from digest.render import personalize


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
            msg = EmailMessage(policy=SMTP)
            msg["From"] = Address(envelope.from_name, addr_spec=envelope.from_email)
            msg["To"] = Address(rcpt.name, addr_spec=rcpt.email)
            msg["Subject"] = personalize(envelope.subject, rcpt.substitutions)
            msg["Date"] = format_datetime(datetime.now(timezone.utc))
            msg["Message-ID"] = make_msgid(domain=domain)
            if envelope.reply_to:
                msg["Reply-To"] = envelope.reply_to
            for name, value in {**envelope.headers, **rcpt.headers}.items():
                msg[name] = value
            msg.set_content(personalize(envelope.text, rcpt.substitutions))
            msg.add_alternative(personalize(envelope.html, rcpt.substitutions), subtype="html")
            path = folder / _file_name(rcpt.email)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(msg.as_bytes())
            tmp.replace(path)  # whole files only, even if we crash mid-write
