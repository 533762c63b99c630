"""`digest store migrate`: rename keys of the flat layout (before hash tags) to today's names.

Before the store could run on a Redis Cluster its keys were the flat join of their
parts (P:list:L:subs); `key` now puts a hash tag in (P:{list:L}:subs, store/base.py).
The new name of an old key is key(*its parts), so the renaming is mechanical:

- RENAMENX, so a key the new version already wrote is never overwritten (both are
  reported as a conflict, and the old one is left for the operator);
- idempotent: a second run finds nothing to rename (new names start with "{");
- editors' session indexes hold session key names: their members are renamed too;
- left alone: P:redbeat:* (beat writes its schedule afresh under the new prefix at
  start; delete the old keys after), P:event:* and P:import:* (a webhook event's
  dedupe key and a running import's keys: they expire within two days and a day).

Run it with every digest process stopped, on the one Redis the installation used;
to move to a cluster, migrate first, then copy the keys over (e.g. redis-cli --cluster import).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from digest.store.base import StoreBase, key_name

LEFT_ALONE = ("redbeat", "event", "import")


@dataclass
class Migration:
    renamed: int = 0
    already: int = 0  # new names (or keys whose name does not change)
    left_alone: int = 0
    conflicts: list[str] = field(default_factory=list)


def new_name(prefix: str, key: str) -> str | None:
    """Today's name of a flat-layout key; None when it is already today's (or not ours)."""
    rest = key.removeprefix(f"{prefix}:")
    if rest == key or rest.startswith("{"):
        return None
    renamed = key_name(prefix, *rest.split(":"))
    return None if renamed == key else renamed


def migrate(store: StoreBase, *, dry_run: bool = False) -> Migration:
    done = Migration()
    for key in list(store.scan_all(f"{store.prefix}:*", count=5000)):
        target = new_name(store.prefix, key)
        if target is None:
            done.already += 1
            continue
        if key.removeprefix(f"{store.prefix}:").split(":", 1)[0] in LEFT_ALONE:
            done.left_alone += 1
            continue
        if store.r.exists(target) if dry_run else not store.r.renamenx(key, target):
            done.conflicts.append(key)
            continue
        done.renamed += 1
        if not dry_run and target.startswith(key_name(store.prefix, "editor", "sessions", "")):
            _rename_members(store, target)
    return done


def _rename_members(store: StoreBase, index: str) -> None:
    """An editor's session index names its sessions' keys: name them anew too."""
    for member, score in store.r.zrange(index, 0, -1, withscores=True):
        target = new_name(store.prefix, member)
        if target is not None:
            with store.r.pipeline() as pipe:
                pipe.zrem(index, member)
                pipe.zadd(index, {target: score})
                pipe.execute()
