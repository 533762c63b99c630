"""Every key one Lua script or MULTI touches lies in one Redis Cluster slot.

Checked on what the code really sends: a send, an import, events, a forget and
the rest run on the tests' Redis under MONITOR, and every EVAL/EVALSHA's KEYS and
every MULTI's keys (as COMMAND GETKEYS names them) must come to one slot
(redis.crc.key_slot, the cluster's own function). tests/test_cluster_e2e.py runs
the same operations, and the end-to-end send, on a real three-master cluster.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from digest.config import Settings
from digest.deliver.ledger import Ledger
from digest.deliver.outbox import OutboxSender
from digest.deliver.ratelimit import RateLimiter
from digest.deliver.send import prepare_issue, send_inline
from digest.models import Feed
from digest.people import forget_person
from digest.store import Store
from digest.store.base import issue_list, key_name
from digest.subscriber_csv import import_csv
from tests.factories import article, readers, seed_week

CHOICES = [None, ["space"], ["climate", "markets"], ["markets"]]
_LINE = re.compile(r"^\S+ \[\d+ (\S+)\] (.*)$", re.S)
_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')


def exercise(store: Store, settings: Settings, tmp_path: Path) -> str:
    """What digest does to its store, each script and transaction at least once; the issue sent."""
    seed_week(store, ["climate", "space", "markets"])  # articles: the save script
    twice = article(90, None)
    assert store.save_articles([twice, twice], 3600) == [None, twice.id]  # scripts in one pipeline
    store.add_feed(Feed(id="planet", url="http://127.0.0.1:9/feed.xml", name="Planet"))
    store.set_feed_status("planet", "paused", "test", datetime.now(timezone.utc))  # WATCH/MULTI on the feeds
    store.feed_states(["planet", "other"])
    store.add_subscribers("weekly", readers(120, CHOICES))
    store.unsubscribe("weekly", "reader1@example.com")  # MULTI over the list's keys
    csv_file = tmp_path / "more.csv"
    csv_file.write_text("email,name,topics\nnew1@example.com,New,space\nreader2@example.com,Again,\n")
    import_csv(store, "weekly", csv_file)  # the import script, pipelined on a connection of its own
    store.suppress_hashed("reader3@example.com")
    plan = prepare_issue(store, settings.model_copy(update={"batch_size": 25}), "weekly")  # COPY in a MULTI
    ledger = Ledger(store)
    assert ledger.pause(plan.issue_id, "editor@example.com") and ledger.resume(plan.issue_id)
    send_inline(store, settings, OutboxSender(settings.outbox_dir), plan.issue_id)  # claim, fetch, finish
    ledger.expire_stale(plan.issue_id, {plan.batches[0]: "submitting|x"})
    ledger.resolve(plan.issue_id, plan.batches[0], resend=False)
    store.record_event("ev1", plan.issue_id, "delivered", "reader4@example.com", "reset")
    store.record_event("ev2", None, "blocked", "reader5@example.com", "incr")
    store.take_host_slot("planet.example", "token", 2, 0.5, 10)
    RateLimiter(store, 1000).reserve(10)
    store.claim_slot("weekly", "20261130T0700Z", {"state": "planned"})
    store.move_slot("weekly", "20261130T0700Z", ("planned",), state="sent")
    store.set_draft_wording("weekly", subject="Hello")
    store.clear_draft("weekly", 1)
    store.hit_limit("signup", "1.2.3.4", 5, 60)
    forget_person(store, "reader6@example.com")  # per-slot MULTIs over lists, issue copies, named keys
    return plan.issue_id


def atomic_groups(lines: list[str], client: redis.Redis, prefix: str) -> list[tuple[str, list[str]]]:
    """(what, keys) for each script call and each MULTI..EXEC seen by MONITOR."""
    groups: list[tuple[str, list[str]]] = []
    open_multi: dict[str, list[str]] = {}
    for line in lines:
        found = _LINE.match(line)
        if not found or found[1] == "lua":  # commands a script runs are checked by its KEYS
            continue
        who, args = found[1], [a.replace('\\"', '"').replace("\\\\", "\\") for a in _ARG.findall(found[2])]
        name = args[0].upper() if args else ""
        if name == "MULTI":
            open_multi[who] = []
        elif name == "EXEC":
            groups.append(("MULTI", open_multi.pop(who, [])))
        elif name in ("EVAL", "EVALSHA"):
            groups.append((f"script {args[1][:8]}", args[3:3 + int(args[2])]))
        elif who in open_multi:
            try:
                open_multi[who] += client.command_getkeys(*args)
            except redis.ResponseError:  # a command without keys
                pass
    return [(what, [k for k in keys if k.startswith(f"{prefix}:")]) for what, keys in groups]


def test_every_script_and_transaction_keeps_to_one_slot(store, settings, weekly, tmp_path):
    url = settings.redis_url or ""
    monitor = redis.Redis.from_url(url, decode_responses=True).connection_pool.get_connection()
    monitor.send_command("MONITOR")
    assert monitor.read_response() == "OK"
    exercise(store, settings, tmp_path)
    marker = f"end-{time.time()}"
    store.r.echo(marker)
    lines: list[str] = []
    while marker not in (line := monitor.read_response()):
        lines.append(line)
    monitor.disconnect()

    groups = atomic_groups(lines, store.r, store.prefix)
    crossing = [(what, sorted({key_slot(k.encode()) for k in keys}), keys) for what, keys in groups
                if len({key_slot(k.encode()) for k in keys}) > 1]
    assert crossing == []
    kinds = defaultdict(int)
    for what, _ in groups:
        kinds[what.split()[0]] += 1
    assert kinds["script"] >= 8 and kinds["MULTI"] >= 5  # the check saw what it is meant to check
    # the ledger's claim and fetch, the import script: the list's and the issue's keys together
    assert any(":issue:" in " ".join(keys) and ":subs" in " ".join(keys) for _, keys in groups)


def test_the_check_finds_keys_that_cross_slots(store, settings):
    line = f'1.0 [0 127.0.0.1:1] "EVALSHA" "abc" "2" "{store.key("lists")}" "{store.key("list", "weekly", "subs")}"'
    groups = atomic_groups([line], store.r, store.prefix)
    assert len({key_slot(k.encode()) for k in groups[0][1]}) == 2


@pytest.mark.parametrize("issue_id", ["weekly-20261130T0700Z", "weekly-20261130-3", "a-b-c-20260101-12"])
def test_an_issue_lives_in_its_lists_slot(issue_id):
    owner = issue_list(issue_id)
    assert owner == issue_id.rsplit("-2026", 1)[0]
    list_slot = key_slot(key_name("digest", "list", owner, "subs").encode())
    for parts in (("batches",), (), ("rcpt", 0), ("lease", "b1"), ("event", "ev1"), ("events",)):
        assert key_slot(key_name("digest", "issue", issue_id, *parts).encode()) == list_slot


def test_keys_of_no_known_shape_still_share_a_tag():
    assert issue_list("../../etc") is None
    a, b = key_name("p", "issue", "odd id", "batches"), key_name("p", "issue", "odd id", "lease", "x")
    assert a == "p:{issue:odd id}:issue:odd id:batches" and key_slot(a.encode()) == key_slot(b.encode())
    assert key_name("p", "list", "weekly", "sel", 3) == "p:{list:weekly}:sel:3"
    assert key_name("p", "article", "a1") == "p:{articles}:article:a1"
    assert key_name("p", "metrics", "counters") == "p:metrics:counters"  # no script shares it: spread
    day = datetime(2026, 11, 30, 7, tzinfo=timezone.utc) + timedelta(0)
    assert issue_list(f"weekly-{day:%Y%m%dT%H%MZ}") == "weekly"
