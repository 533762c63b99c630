"""Time slots of scheduled lists, and the lock that keeps one list's issues one at a time.

    P:list:{L}:slots            hash  slot id -> JSON record: state, issue, reason, counts, times
    P:list:{L}:issuing          string lock held while an issue of the list is chosen and planned

A slot record is created once (HSETNX): whoever creates it starts the slot, so
two beats, a retried task or a racing `send now` start it once. Its state then
moves forward only, checked and set in one step (`move_slot`):

    starting -> sending | skipped | failed | waiting -> approved -> sending | skipped
    (a slot not yet come) -> approved ahead -> starting (no approval wait) | skipped (cancelled)
"""

from __future__ import annotations

import json
import time
from typing import Any

from redis.lock import Lock

from digest.store.base import StoreBase

# Compare-and-set of a slot's state: KEYS[1] the slots hash; ARGV slot id, the
# states it may be in (comma-separated), the fields to set (JSON). Returns 1 if moved.
_MOVE = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local record = cjson.decode(raw)
for s in string.gmatch(ARGV[2], '[^,]+') do
  if s == record['state'] then
    for k, v in pairs(cjson.decode(ARGV[3])) do record[k] = v end
    redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(record))
    return 1
  end
end
return 0
"""


class ScheduleStore(StoreBase):
    def claim_slot(self, list_slug: str, slot: str, record: dict[str, Any]) -> bool:
        """Create a slot's record; False if it exists (someone else started this slot)."""
        record = {**record, "at": time.time()}
        return bool(self.r.hsetnx(self.key("list", list_slug, "slots"), slot, json.dumps(record)))

    def slot(self, list_slug: str, slot: str) -> dict[str, Any] | None:
        raw = self.r.hget(self.key("list", list_slug, "slots"), slot)
        return json.loads(raw) if raw else None

    def slots(self, list_slug: str) -> dict[str, dict[str, Any]]:
        return {k: json.loads(v) for k, v in sorted(self.r.hgetall(self.key("list", list_slug, "slots")).items())}

    def move_slot(self, list_slug: str, slot: str, from_states: tuple[str, ...], **update: Any) -> bool:
        """Update a slot's record if its state is one of `from_states`; False otherwise."""
        moved = self.r.eval(_MOVE, 1, self.key("list", list_slug, "slots"), slot, ",".join(from_states),
                            json.dumps({**update, "at": time.time()}))
        return bool(moved)

    def issuing_lock(self, list_slug: str, timeout: float = 600) -> Lock:
        """Held while an issue of the list is chosen and planned, so two never take the same articles."""
        return self.r.lock(self.key("list", list_slug, "issuing"), timeout=timeout, blocking_timeout=timeout)
