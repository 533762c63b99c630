"""Editors' edits of a list's next issue, kept until that issue is planned.

    P:list:{L}:draft            hash  subject, preheader, intro: the editors' words for the next
                                      issue ("" or absent: made as usual); rev: bumped by every change
    P:list:{L}:draft:excluded   set   article ids left out of the next issue (they stay collected)
    P:list:{L}:draft:order      hash  section slug -> JSON list of story ids: the editors' order

Keyed by list, not by issue: the next issue has no id until it is planned, and
planning it (deliver/send.py) clears what it carried. `clear_draft` deletes only
the revision the planned issue was built from, so an edit made while the issue
was being planned waits for the next one instead of vanishing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from digest.store.base import StoreBase

WORDING_FIELDS = ("subject", "preheader", "intro")

# Delete the draft only if no edit came after the revision that was planned.
_CLEAR_IF_REV = """
if (redis.call('HGET', KEYS[1], 'rev') or '0') == ARGV[1] then
  return redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
end
return -1
"""


@dataclass
class Draft:
    """What editors changed in a list's next issue (nothing, for a list without edits)."""

    subject: str = ""
    preheader: str = ""
    intro: str = ""
    excluded: set[str] = field(default_factory=set)
    order: dict[str, list[str]] = field(default_factory=dict)  # section slug -> story ids
    rev: int = 0

    @property
    def is_empty(self) -> bool:
        return not (self.subject or self.preheader or self.intro or self.excluded or self.order)


class DraftStore(StoreBase):
    def _draft_keys(self, list_slug: str) -> tuple[str, str, str]:
        base = self.key("list", list_slug, "draft")
        return base, f"{base}:excluded", f"{base}:order"

    def draft(self, list_slug: str) -> Draft:
        words_key, excluded_key, order_key = self._draft_keys(list_slug)
        with self.r.pipeline(transaction=False) as pipe:
            pipe.hgetall(words_key)
            pipe.smembers(excluded_key)
            pipe.hgetall(order_key)
            words, excluded, order = pipe.execute()
        return Draft(
            **{f: words.get(f, "") for f in WORDING_FIELDS}, excluded=set(excluded),
            order={section: json.loads(ids) for section, ids in order.items()}, rev=int(words.get("rev", 0)),
        )

    def set_draft_wording(self, list_slug: str, **values: str) -> None:
        """Set the subject, preheader or intro of the next issue ("": back to the usual one)."""
        words_key = self._draft_keys(list_slug)[0]
        with self.r.pipeline() as pipe:
            for name, value in values.items():
                assert name in WORDING_FIELDS, name
                if value:
                    pipe.hset(words_key, name, value)
                else:
                    pipe.hdel(words_key, name)
            pipe.hincrby(words_key, "rev", 1)
            pipe.execute()

    def exclude_articles(self, list_slug: str, article_ids: list[str], excluded: bool = True) -> None:
        words_key, excluded_key, _ = self._draft_keys(list_slug)
        with self.r.pipeline() as pipe:
            (pipe.sadd if excluded else pipe.srem)(excluded_key, *article_ids)
            pipe.hincrby(words_key, "rev", 1)
            pipe.execute()

    def set_section_order(self, list_slug: str, section: str, story_ids: list[str] | None) -> None:
        """The editors' order of a section's stories (None: ranked as usual again)."""
        words_key, _, order_key = self._draft_keys(list_slug)
        with self.r.pipeline() as pipe:
            if story_ids:
                pipe.hset(order_key, section, json.dumps(story_ids))
            else:
                pipe.hdel(order_key, section)
            pipe.hincrby(words_key, "rev", 1)
            pipe.execute()

    def clear_draft(self, list_slug: str, rev: int) -> bool:
        """Forget the draft the issue just planned was built from (revision `rev`); False when an
        edit came after it (that edit, and those before it, stay for the next issue)."""
        return int(self.r.eval(_CLEAR_IF_REV, 3, *self._draft_keys(list_slug), str(rev))) >= 0
