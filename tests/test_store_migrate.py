"""`digest store migrate`: an installation of the flat layout (before hash tags) keeps its data.

The old installation is made honestly: everything digest writes (tests/test_cluster.py's
`exercise`) and an editor's session, then every key renamed to its flat name.
"""

from __future__ import annotations

import time

from digest.deliver.ledger import Ledger
from digest.store.migrate import migrate, new_name
from digest.store.sessions import Session
from tests.test_cluster import exercise


def flat_name(prefix: str, key: str) -> str:
    """The name a key had before hash tags (the inverse of store.migrate.new_name)."""
    rest = key.removeprefix(f"{prefix}:")
    if not rest.startswith("{"):
        return key
    tag, _, after = rest[1:].partition("}:")
    if tag.startswith(("list:", "host:")) and not after.startswith("issue:"):
        return f"{prefix}:{tag}:{after}"
    return f"{prefix}:{after}"


def flatten(store) -> int:  # type: ignore[no-untyped-def]
    keys = list(store.r.scan_iter(f"{store.prefix}:*"))
    for key in keys:
        if key.startswith(store.key("editor", "sessions", "")):
            for member, score in store.r.zrange(key, 0, -1, withscores=True):
                store.r.zrem(key, member)
                store.r.zadd(key, {flat_name(store.prefix, member): score})
        store.r.rename(key, flat_name(store.prefix, key))
    return len(keys)


def test_an_old_installation_reads_the_same_after_migrating(store, settings, weekly, tmp_path, run):
    issue_id = exercise(store, settings, tmp_path)
    store.create_session("s1", Session(email="ed@example.com", csrf="c", created=time.time(),
                                       ends=time.time() + 3600), idle=600)
    before = {"subs": store.get_subscriber("weekly", "reader8@example.com"), "status": Ledger(store).status(issue_id),
              "articles": len(store.r.zrange(store.key("articles"), 0, -1)), "list": store.get_list("weekly")}
    keys = flatten(store)
    assert keys > 50 and not store.r.exists(store.key("list", "weekly", "subs"))
    assert store.r.exists(f"{store.prefix}:list:weekly:subs") and store.r.exists(f"{store.prefix}:issue:{issue_id}")

    first = run("store", "migrate")
    assert first.returncode == 0, first.stderr
    assert "renamed" in first.stdout and not first.stdout.startswith("renamed 0 ")
    assert store.get_subscriber("weekly", "reader8@example.com") == before["subs"]
    assert Ledger(store).status(issue_id) == before["status"]
    assert len(store.r.zrange(store.key("articles"), 0, -1)) == before["articles"]
    assert store.get_list("weekly") == before["list"]
    assert store.read_session("s1", 600) is not None
    assert store.delete_sessions_of("ed@example.com") == 1  # the index names the session's new key
    again = run("store", "migrate")
    assert again.returncode == 0 and again.stdout.startswith("renamed 0 keys")


def test_a_key_written_anew_is_never_overwritten(store, weekly):
    store.r.set(f"{store.prefix}:list:weekly:seq", "41")  # an old counter ...
    store.r.set(store.key("list", "weekly", "seq"), "7")  # ... and the new version's
    done = migrate(store)
    assert done.conflicts == [f"{store.prefix}:list:weekly:seq"]
    assert store.r.get(store.key("list", "weekly", "seq")) == "7"
    again = migrate(store, dry_run=True)
    assert again.renamed == 0 and again.conflicts == done.conflicts


def test_names_map_one_way():
    assert new_name("p", "p:list:weekly:sel:3") == "p:{list:weekly}:sel:3"
    assert new_name("p", "p:issue:weekly-20261130-2:batches") == "p:{list:weekly}:issue:weekly-20261130-2:batches"
    assert new_name("p", "p:{list:weekly}:sel:3") is None  # already new
    assert new_name("p", "p:metrics:counters") is None  # untagged: the same name
    assert new_name("p", "other:list:weekly:subs") is None  # not ours
    assert flat_name("p", "p:{list:weekly}:issue:weekly-20261130-2:rcpt:0") == "p:issue:weekly-20261130-2:rcpt:0"
