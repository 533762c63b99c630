"""What preflight found: findings with a severity, and the one question approval asks."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Literal

Severity = Literal["block", "warn"]


@dataclass(frozen=True)
class Finding:
    severity: Severity  # block: the issue must not go out like this; warn: worth a look
    code: str  # stable, for the web app and scripts: "size-clip", "link-not-https", ...
    message: str  # what is wrong and what it does to readers, in an editor's words
    where: str = ""  # an element, selector or part, with its line in the HTML when known


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    html_bytes: int = 0  # the HTML as sent, UTF-8
    estimated_bytes: int = 0  # ... after SendGrid's link rewriting, as Gmail measures it
    links: int = 0  # links SendGrid rewrites

    def add(self, severity: Severity, code: str, message: str, where: str = "") -> None:
        self.findings.append(Finding(severity, code, message, where))

    @property
    def blocks(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "block"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warn"]

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "blocking": blocking(self)}, indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> Report:
        data = json.loads(raw)
        return cls([Finding(**f) for f in data["findings"]], data["html_bytes"], data["estimated_bytes"],
                   data["links"])


def blocking(report: Report) -> bool:
    """Whether approval must wait: the seam the editors' app and `digest issues preflight` ask."""
    return any(f.severity == "block" for f in report.findings)
