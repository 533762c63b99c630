"""Renderings of a list's next issue, and their preflight reports, kept by what they were made from.

    P:list:{L}:render:{key}     string RenderedIssue JSON, expires after RENDER_TTL
    P:list:{L}:preflight:{key}  string a preflight report (JSON), expires after RENDER_TTL

`key` is a digest of everything a rendering depends on (digest.issue.content_key):
the issue's content, the list, the day, the templates. Any change makes a new key,
so an entry is never stale, only unused; unused ones expire. The editors' preview
asks for the same issue many times between changes: premailer then runs once.
"""

from __future__ import annotations

from digest.store.base import StoreBase

RENDER_TTL = 3600


class RenderCache(StoreBase):
    def cached(self, kind: str, list_slug: str, key: str) -> str | None:
        value = self.r.get(self.key("list", list_slug, kind, key))
        return value if isinstance(value, str) else None

    def keep(self, kind: str, list_slug: str, key: str, value: str, ttl: int = RENDER_TTL) -> None:
        self.r.set(self.key("list", list_slug, kind, key), value, ex=ttl)
