"""The public archive's caches, kept by the archive's revision so that they are never stale.

    P:list:{L}:archive:rev         string a random token, set anew by every write that changes which
                                          issues of the list are out or what they hold (deliver/ledger.py)
    P:list:{L}:archive:index:{R}   list   "" then one JSON row [issue id, subject, created] per issue
                                          out, newest first, as of revision R; expires
    P:list:{L}:archive:feed:{tag}  hash   body, modified: the archive's RSS feed, `tag` a digest of
                                          the revision and everything else it shows (digest/archive.py); expires

A write sets the revision after (or with) what it changes, and a reader reads the
revision before the data, so an entry built from older data can only sit under an
older revision, which nobody asks for again. A random token rather than a counter:
a revision key lost and started again could not land on an old entry's name.
Unused entries expire after ARCHIVE_TTL.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from digest.store.base import StoreBase

ARCHIVE_TTL = 86400


def new_rev() -> str:
    return secrets.token_hex(8)


class ArchiveCache(StoreBase):
    def archive_rev_key(self, list_slug: str) -> str:
        return self.key("list", list_slug, "archive", "rev")

    def archive_rev(self, list_slug: str) -> str:
        """The list's archive revision; a list that has none yet (its issues all older than
        the revision) gets one, so that its archive too is read once per change."""
        key = self.archive_rev_key(list_slug)
        rev = self.r.get(key)
        if rev is None:
            self.r.set(key, new_rev(), nx=True)
            rev = self.r.get(key)
        return str(rev)

    def archive_index(self, list_slug: str, rev: str, start: int, stop: int) -> tuple[int, list[Any]] | None:
        """(how many issues are out, rows start to stop-1) of revision `rev`; None when not kept."""
        key = self.key("list", list_slug, "archive", "index", rev)
        with self.r.pipeline(transaction=False) as pipe:
            pipe.llen(key)
            pipe.lrange(key, start + 1, stop)  # element 0 marks a kept index of no issue
            length, rows = pipe.execute()
        if not length:
            return None
        return length - 1, [json.loads(row) for row in rows]

    def keep_archive_index(self, list_slug: str, rev: str, rows: list[Any]) -> None:
        key = self.key("list", list_slug, "archive", "index", rev)
        with self.r.pipeline(transaction=True) as pipe:  # a reader sees the whole index or none
            pipe.delete(key)
            pipe.rpush(key, "")
            for i in range(0, len(rows), 1000):
                pipe.rpush(key, *(json.dumps(row) for row in rows[i:i + 1000]))
            pipe.expire(key, ARCHIVE_TTL)
            pipe.execute()

    def archive_feed(self, list_slug: str, tag: str) -> tuple[bytes, float] | None:
        """The feed kept for `tag`: (body, when it was built); None when not kept."""
        body, modified = self.r.hmget(self.key("list", list_slug, "archive", "feed", tag), ["body", "modified"])
        if body is None or modified is None:
            return None
        return body.encode(), float(modified)

    def keep_archive_feed(self, list_slug: str, tag: str, body: bytes, modified: float) -> None:
        key = self.key("list", list_slug, "archive", "feed", tag)
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"body": body.decode(), "modified": repr(modified)})
            pipe.expire(key, ARCHIVE_TTL)
            pipe.execute()
