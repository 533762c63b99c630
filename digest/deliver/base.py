"""The one seam between digest and whoever hands mail over.

A Sender takes an Envelope: one content (one variant of one issue) and up to
1,000 recipients, each with their own substitutions and headers. It either
returns (the whole envelope was accepted) or raises TransportError, whose flags
tell the caller what it may do next (see digest.errors.TransportError).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(slots=True)
class Recipient:
    email: str
    name: str = ""
    substitutions: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    custom_args: dict[str, str] = field(default_factory=dict)


@dataclass
class Envelope:
    subject: str
    html: str
    text: str
    from_email: str
    from_name: str
    recipients: list[Recipient]
    reply_to: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # the same for every recipient
    custom_args: dict[str, str] = field(default_factory=dict)  # list and issue
    categories: list[str] = field(default_factory=list)


class Sender(Protocol):
    name: str

    def send(self, envelope: Envelope) -> None: ...
