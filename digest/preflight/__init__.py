"""Preflight: what would go wrong for readers if this issue went out now.

`preflight(html, text, unsubscribe_url=...)` reads the email after inlining, the
bytes sent, and reports findings, each `block` (approval waits) or `warn`, with a
code, a message an editor understands and where. `blocking(report)` is the seam
approval asks; `preflight_next_issue` checks a list's next issue as one reader gets
it, by the code the editors' preview uses (digest.issue.next_issue_email).

The checks, one module each, with their rules at the top:
  checks.py   size against Gmail's clip (SendGrid's link rewriting included), links,
              unsubscribe in both parts, empty sections
  support.py  CSS and HTML the main clients do not support (caniemail, derived into
              caniemail.json by derive.py; licence in CANIEMAIL-LICENSE)
  access.py   language, layout tables, alt text, contrast, font sizes
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from digest.preflight.access import check_accessibility
from digest.preflight.checks import check_links, check_sections, check_size, check_unsubscribe
from digest.preflight.report import Finding, Report, blocking
from digest.preflight.styles import parse
from digest.preflight.support import caniemail, check_support

if TYPE_CHECKING:
    from digest.config import Settings
    from digest.store import Store

__all__ = ["Finding", "Report", "blocking", "caniemail", "preflight", "preflight_next_issue"]


def preflight(html: str, text: str, *, unsubscribe_url: str, local_origin: str = "",
              click_tracking: bool = True) -> Report:
    """Every check over one email as sent: its HTML (after inlining) and its plain-text part.

    unsubscribe_url: the reader's unsubscribe link, which both parts must carry.
    local_origin: the web process's BASE_URL; http: links to it only warn when it is a
    loopback address (the demo). click_tracking: SendGrid rewrites the links (SENDGRID_CLICK_TRACKING).
    """
    report = Report()
    doc = parse(html)
    if doc is None:
        report.add("block", "html-missing", "The email has no HTML part that can be read.", "the HTML part")
        doc = parse("<html><body></body></html>")
        assert doc is not None
    check_size(html, doc, report, tracked=click_tracking)
    check_links(doc, report, local_origin=local_origin)
    check_unsubscribe(doc, text, report, unsubscribe_url=unsubscribe_url)
    check_sections(doc, report)
    check_support(doc, report)
    check_accessibility(doc, report)
    report.findings.sort(key=lambda f: f.severity != "block")  # blocks first, each group in check order
    return report


def preflight_next_issue(store: Store, settings: Settings, list_slug: str,
                         topics: set[str] | None = None) -> Report:
    """A list's next issue, rendered as the editors' preview renders it (every topic by default:
    the longest variant), checked. An issue with nothing in it is one blocking finding."""
    import hashlib
    import os

    from digest.issue import content_key, files_stamp, next_issue_email
    from digest.links import preview_token

    content, _, email = next_issue_email(store, settings, list_slug, topics)
    # The checks read what the content key covers, and these (their own code included).
    key = hashlib.sha256(f"{content_key(content, settings)}|{sorted(topics or ())}|{settings.sendgrid_click_tracking}"
                         f"|{files_stamp(os.path.dirname(__file__))}".encode()).hexdigest()[:40]
    cached = store.cached("preflight", list_slug, key)
    if cached is not None:
        return Report.from_json(cached)
    if email is None:
        report = Report()
        report.add("block", "issue-empty", "The next issue has no articles yet: there is nothing to send."
                   if content.is_empty else "None of these topics has articles in the next issue.", list_slug)
        return report
    html, text = email
    report = preflight(html, text, unsubscribe_url=f"{settings.base_url}/u/{preview_token(settings, list_slug)}",
                       local_origin=settings.base_url, click_tracking=settings.sendgrid_click_tracking)
    store.keep("preflight", list_slug, key, report.to_json())
    return report
