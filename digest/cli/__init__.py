"""`digest`: the command line for editors and ops, one module per concept.

Every command reads the settings once, talks to Redis through the Store, and
turns a DigestError into one line on stderr and a non-zero exit (cli.base).
"""

from digest.cli import (  # noqa: F401  (they register commands)
    drafts,
    editors,
    feed_sources,
    feeds,
    health,
    issues,
    lists,
    preflight,
    proofs,
    schedules,
    send,
    store,
    stories,
    subscribers,
    topics,
)
from digest.cli.base import cli, main

__all__ = ["cli", "main"]
