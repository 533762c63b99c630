"""Render one issue: Jinja2 once, premailer once, variants by assembly.

Subscribers choose topics, so one issue has many variants. premailer costs about
0.3 s a call, so it runs once per issue: the whole document is rendered with
every section between markers, inlined once, then cut at the markers into a
skeleton and its parts (a section's heading, its stories, its line in the
contents). A variant is the skeleton with the chosen parts filled in, which costs
microseconds. Per-reader parts (links, greeting) stay placeholders, unguessable and new for
every rendering, that SendGrid fills per recipient (substitutions) and the outbox
fills by replacement. words.py fits subjects and holds the fixed wording.
"""

from digest.render.engine import make_environment, translations
from digest.render.issue import (
    Markers,
    RenderedIssue,
    archive_url,
    personalize,
    premailer_calls,
    render_issue,
)

__all__ = [
    "Markers",
    "RenderedIssue",
    "archive_url",
    "make_environment",
    "personalize",
    "premailer_calls",
    "render_issue",
    "translations",
]
