"""Importing subscribers: every good row kept, every bad one named, nobody resubscribed;
and one person's data exported, or forgotten for good."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from digest.addresses import normalize_email, plain_address, validated_address
from digest.confirm import send_confirmations
from digest.deliver.outbox import OutboxSender
from digest.deliver.send import prepare_issue, send_inline
from digest.errors import InvalidInput
from digest.models import DigestList, Subscriber
from digest.people import add_person, export_person, forget_person
from digest.store import Record
from digest.store.pauses import PauseIndex
from digest.subscriber_csv import export_csv, import_csv
from tests.factories import seed_week
from tests.workers import worker_env

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)


def write_csv(path: Path, *lines: str | bytes, newline: bytes = b"\n") -> Path:
    path.write_bytes(b"".join((x if isinstance(x, bytes) else x.encode()) + newline for x in lines))
    return path


def run_import(store, path: Path, list_slug: str = "weekly", **kw):
    problems: list[tuple[int, str]] = []
    summary = import_csv(store, list_slug, path, on_problem=lambda line, why: problems.append((line, why)),
                         now=NOW, **kw)
    return summary, problems


@pytest.fixture
def single(store, weekly) -> DigestList:
    """The Weekly Planet, set to single opt-in: its imports are people who consented elsewhere."""
    lst = weekly.model_copy(update={"opt_in": "single"})
    store.add_list(lst)
    return lst


# -- the fast path for addresses ------------------------------------------------

HOSTILE_ADDRESSES = [
    "ann@example.com", "Ann.Lee+news@Example.COM", "  padded@example.com\t", "o'brien@example.ie",
    "a_b-c@sub.domain.example.org", "x!#$%&*/=?^`{|}~@example.com", "1234@example.com", "a@b.co",
    "user@bücher.example", "user@xn--bcher-kva.example", "用户@例子.广告", "jörg@example.de", "ÅSA@EXAMPLE.SE",
    "\u212aelvin@example.com", "İstanbul@example.com", "ß@example.de", "ﬃ@example.com",
    '"quoted"@example.com', '"with space"@example.com', "a\\@b@example.com",
    "dots..twice@example.com", ".lead@example.com", "trail.@example.com", "a@example.com.", "a@.example.com",
    "a@example..com", "a@-example.com", "a@example-.com", "a@ex--ample.com", "a@ab--cd.com", "a@xn--.com",
    "a@" + "x" * 63 + ".com", "a@" + "x" * 64 + ".com", "l" * 64 + "@example.com", "l" * 65 + "@example.com",
    "a@" + ".".join(["x" * 60] * 4) + ".com", ("l" * 240) + "@example.com", ("l" * 243) + "@ab.cd",
    "a@localhost", "a@example", "a@example.test", "a@x.local", "a@printer.localhost", "a@foo.onion",
    "a@in-addr.arpa", "a@example.invalid", "a@192.168.0.1", "a@[192.168.0.1]", "a@[IPv6:::1]", "a@example.c0m",
    "a@example.123", "a@example.c", "a@EXAMPLE.COM", "", " ", "@example.com", "a@", "a", "a@@example.com",
    "a@b@example.com", "Ann <ann@example.com>", "ann@example.com (Ann)", "ann @example.com", "ann@exa mple.com",
    "ann\x00@example.com", "ann\n@example.com", "ann@example.com\r\n", "ann\u200b@example.com", "ann@exam\u00adple.com",
    "ann@example\u3002com", "ann\uff20example.com", "ａｎｎ@example.com", "ann@ｅxample.com", "a+@example.com",
    "-@example.com", "a@b.c-d.com", "a@b.c_d.com", "a@3com.com", "a@x.y.z.w.example.museum",
]


def _reference(raw: str) -> str | None:
    try:
        return validated_address(raw)
    except InvalidInput:
        return None


def test_the_fast_path_agrees_with_email_validator_on_hostile_and_random_addresses():
    rng = random.Random(8)
    pieces = ["a", "Z", "0", ".", "-", "_", "+", "@", "xn--", "--", ".com", ".test", ".local", ".arpa", '"', " ",
              "é", "ß", "\u212a", "ab", "x" * 63, "y" * 70, "co", "museum", "1", "'", "\\", "<", ">", "[", "]", "\t"]
    randoms = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 9))) for _ in range(20_000)]
    randoms += [f"{rng.choice(['ann', 'Bob.Smith', 'c+d', 'x..y', '.e', 'f.'])}@"
                f"{rng.choice(['example.com', 'Ex-Ample.ORG', 'a.b', 'x--y.com', 'bücher.de', 'ex.test', 'e.c0'])}"
                for _ in range(5_000)]
    fast = slow = 0
    for raw in HOSTILE_ADDRESSES + randoms:
        expected = _reference(raw)
        quick = plain_address(raw)
        if quick is not None:
            fast += 1
            assert quick == expected, raw  # whatever the fast path accepts, email_validator accepts the same way
        elif expected is not None:
            slow += 1
        if expected is None:
            with pytest.raises(InvalidInput):
                normalize_email(raw)
        else:
            assert normalize_email(raw) == expected, raw
    assert fast > 500 and slow > 100  # both paths are exercised
    # the common shapes go fast; the odd ones go to email_validator
    assert plain_address("Ann.Lee+news@Example.COM") == "ann.lee+news@example.com"
    for odd in ["user@bücher.example", "user@xn--bcher-kva.example", '"quoted"@example.com', "a@example.test",
                "\u212aelvin@example.com", "l" * 245 + "@example.com", "a@ab--cd.com"]:
        assert plain_address(odd) is None, odd


# -- importing ------------------------------------------------------------------

def test_a_file_with_bad_rows_of_every_kind_keeps_every_good_row_and_names_each_bad_one(store, single, tmp_path):
    path = write_csv(
        tmp_path / "readers.csv",
        b"\xef\xbb\xbfEmail;Name;Topics",  # a BOM, semicolons, a header in capitals
        "ann@example.com;Ann;space",
        "not-an-address;Mallory;",
        "bob@example.com;Bob;space;extra",
        "carol@example.com;Carol",
        b"dan@example.com;D\xe9n;",
        "erin@example.com;Erin;cooking",
        "ANN@Example.com;Ann again;",
        f"fay@example.com;{'F' * 300};",
        'gus@example.com;"=HYPERLINK(""https://evil.example"",""Click"")";climate',
        'hal@example.com;"Hal;climate',  # a quote that never closes: only its own line is lost
        "ida@example.com;Ida;climate, markets",
        "",
        ";;",
        "jo@example.com;" + "J" * 70_000 + ";",  # a line past the size cap
        "kim@bücher.example;Kim;",
        "lee@example.com;  Lee \t Lee ;more",
        newline=b"\r\n",
    )
    summary, problems = run_import(store, path)
    assert (summary.new, summary.refused, summary.unchanged, summary.suppressed) == (5, 9, 0, 0)
    reasons = dict(problems)
    assert [line for line, _ in problems] == [3, 4, 5, 6, 7, 8, 9, 11, 15]  # in line order
    assert "invalid email address 'not-an-address'" in reasons[3]
    assert "4 fields, more than the header's 3" in reasons[4]
    assert "2 fields, fewer than the header's 3" in reasons[5]
    assert "not UTF-8 text (byte 0xe9 at column 18)" in reasons[6]
    assert "unknown topic of list 'weekly': 'cooking'" in reasons[7]
    assert reasons[8] == "ann@example.com is already in the file (line 2); imported once"
    assert "at most 200" in reasons[9]
    assert "not valid CSV" in reasons[11]
    assert "longer than 64 KB" in reasons[15]
    assert store.get_subscriber("weekly", "ann@example.com").name == "Ann"
    gus = store.get_subscriber("weekly", "gus@example.com")
    assert gus.name == '=HYPERLINK("https://evil.example","Click")' and gus.topics == ["climate"]
    assert store.get_subscriber("weekly", "ida@example.com").topics == ["climate", "markets"]
    assert store.get_subscriber("weekly", "kim@bücher.example").status == "active"
    assert store.get_subscriber("weekly", "lee@example.com").name == "Lee Lee"
    assert store.subscriber_count("weekly") == 5


@pytest.mark.parametrize("content, culprit", [
    (b"", "the first line must name the columns"),
    (b"mail,name\nann@example.com,Ann\n", "with at least 'email' (found: mail, name)"),
    (b"email,name,email\nann@example.com,Ann,x\n", "named twice in the header: email"),
    ("email,name\nann@example.com,Ann\n".encode("utf-16"), "line 1 (the header) is not UTF-8"),
    (b"email,name\rann@example.com,Ann\r", "lone carriage return"),
])
def test_a_file_whose_header_cannot_be_read_is_refused_whole(store, single, tmp_path, content, culprit):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match=re.escape(culprit)):
        run_import(store, path)
    assert list(store.subscribers("weekly")) == []


def test_duplicates_across_chunks_are_caught_and_the_run_leaves_nothing_behind(store, single, tmp_path):
    lines = ["email,name"] + [f"r{i}@example.com,R{i}" for i in range(10)] + ["R3@EXAMPLE.com,again"]
    summary, problems = run_import(store, write_csv(tmp_path / "r.csv", *lines), chunk_rows=3)
    assert (summary.new, summary.refused) == (10, 1)
    assert problems == [(12, "r3@example.com is already in the file (line 5); imported once")]
    assert not list(store.r.scan_iter(store.key("list", "*", "import", "*")))


def test_new_rows_join_by_the_lists_opt_in_with_the_evidence_of_consent(store, single, weekly, settings, tmp_path):
    path = write_csv(tmp_path / "r.csv", "email,name", "ann@example.com,Ann", "bob@example.com,Bob")
    run_import(store, path)
    ann = store.get_subscriber("weekly", "ann@example.com")
    assert (ann.status, ann.source, ann.consent, ann.confirmed_at) == ("active", "import", "single-opt-in", NOW)
    assert ann.created_at == NOW

    double = DigestList(slug="asks", name="Asks", from_email="news@planet.example")  # double opt-in by default
    store.add_list(double)
    sender = OutboxSender(settings.outbox_dir)

    def confirm(emails: list[str]) -> int:
        return send_confirmations(store, settings, sender, "asks", emails)

    summary, _ = run_import(store, path, "asks", confirm=confirm)
    assert (summary.new, summary.pending, summary.confirmations) == (2, 2, 2)
    bob = store.get_subscriber("asks", "bob@example.com")
    assert (bob.status, bob.source, bob.consent, bob.confirmed_at) == ("pending", "import", "", None)
    assert store.subscriber_count("asks") == 0
    assert sorted(p.name for p in settings.outbox_dir.rglob("*.eml")) == ["ann@example.com.eml", "bob@example.com.eml"]
    again, _ = run_import(store, path, "asks", confirm=confirm)
    assert (again.new, again.unchanged, again.confirmations) == (0, 2, 0)  # nobody asked twice by a re-import
    with pytest.raises(InvalidInput, match="double opt-in"):
        run_import(store, path, "asks", opt_in="single")  # skipping confirmation is the list's setting


def test_reimporting_counts_each_row_and_never_resurrects_anyone(store, single, tmp_path):
    first = write_csv(tmp_path / "a.csv", "email,name,topics", "ann@example.com,Ann,space", "bob@example.com,Bob,",
                      "cat@example.com,Cat,", "dee@example.com,Dee,", "eve@example.com,Eve,", "fox@example.com,Fox,")
    run_import(store, first)
    store.unsubscribe("weekly", "bob@example.com")
    store.unsubscribe("weekly", "cat@example.com", reason="bounced")
    store.unsubscribe("weekly", "dee@example.com", reason="complained")
    store.suppress("eve@example.com", "spam report")  # reported spam from another list: suppressed everywhere
    again = write_csv(tmp_path / "b.csv", "email,name,topics", "ann@example.com,Annie,markets", "bob@example.com,Bob,",
                      "cat@example.com,Cat,", "dee@example.com,Dee,", "eve@example.com,Eve,",
                      "fox@example.com,Fox,", "gil@example.com,Gil,")
    summary, problems = run_import(store, again)
    assert problems == []
    assert (summary.new, summary.updated, summary.unchanged, summary.refused, summary.suppressed) == (1, 0, 2, 0, 4)
    statuses = {s.email: s.status for s in store.subscribers("weekly")}
    assert statuses == {"ann@example.com": "active", "bob@example.com": "unsubscribed", "cat@example.com": "bounced",
                        "dee@example.com": "complained", "eve@example.com": "suppressed", "fox@example.com": "active",
                        "gil@example.com": "active"}
    ann = store.get_subscriber("weekly", "ann@example.com")
    assert (ann.name, ann.topics) == ("Ann", ["space"])  # a confirmed reader's choices stay without --update
    assert store.subscriber_count("weekly") == 3

    summary, _ = run_import(store, again, update=True)
    assert (summary.new, summary.updated, summary.unchanged, summary.suppressed) == (0, 1, 2, 4)
    ann = store.get_subscriber("weekly", "ann@example.com")
    assert (ann.name, ann.topics, ann.status, ann.consent) == ("Annie", ["markets"], "active", "single-opt-in")
    in_groups = {e for m in store.masks("weekly") for e in store.r.zrange(store.key("list", "weekly", "sel", m), 0, -1)}
    assert in_groups == {"ann@example.com", "fox@example.com", "gil@example.com"}  # ann moved groups, once
    assert store.subscriber_count("weekly") == 3


def test_the_export_neutralises_a_formula_name_that_came_in_an_import(store, single, tmp_path):
    import csv
    import io

    path = write_csv(tmp_path / "r.csv", "email,name", 'gus@example.com,"=HYPERLINK(""https://evil.example"")"',
                     "amy@example.com,+1 555 0100", "liz@example.com,@liz")
    run_import(store, path)
    out = io.StringIO()
    export_csv(store, "weekly", out)
    names = {row["email"]: row["name"] for row in csv.DictReader(io.StringIO(out.getvalue()))}
    assert names == {"gus@example.com": "'=HYPERLINK(\"https://evil.example\")", "amy@example.com": "'+1 555 0100",
                     "liz@example.com": "'@liz"}


def test_adding_one_person_follows_the_opt_in_and_never_resubscribes(store, single):
    sub, new = add_person(store, "weekly", "Ann@Example.com", name="Ann", now=NOW)
    assert new and (sub.status, sub.source, sub.consent, sub.confirmed_at) == ("active", "cli", "single-opt-in", NOW)
    store.unsubscribe("weekly", "ann@example.com")
    sub, new = add_person(store, "weekly", "ann@example.com", topics=["space"])
    assert not new and (sub.status, sub.name, sub.topics, sub.consent) == ("unsubscribed", "Ann", ["space"],
                                                                           "single-opt-in")


# -- one person: export and forget ----------------------------------------------

def test_a_persons_export_has_every_list_the_evidence_and_the_suppression(store, single, settings, tmp_path):
    other = DigestList(slug="daily", name="Daily", from_email="news@planet.example", opt_in="single")
    store.add_list(other)
    run_import(store, write_csv(tmp_path / "r.csv", "email,name,topics", "ann@example.com,Ann,space"))
    store.add_subscriber("daily", Subscriber(email="ann@example.com", name="Ann D", status="pending", source="form",
                                             ip="203.0.113.9", locale="fr"))
    store.suppress("ann@example.com", "bounce")
    env = worker_env(settings)
    out = tmp_path / "ann.json"
    done = subprocess.run([sys.executable, "-c", "from digest.cli import main; main()", "subscribers", "person",
                           "ANN@example.com", "-o", str(out)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    assert data["email"] == "ann@example.com"
    by_list = {x["list"]: x for x in data["lists"]}
    assert by_list["weekly"]["status"] == "active" and by_list["weekly"]["topics"] == ["space"]
    assert by_list["weekly"]["consent"] == {"source": "import", "ip": "", "consent": "single-opt-in",
                                            "confirmed_at": NOW.isoformat()}
    assert by_list["daily"]["consent"]["ip"] == "203.0.113.9" and by_list["daily"]["locale"] == "fr"
    assert data["suppression"]["reason"] == "bounce" and data["forgotten"] is None


def test_a_forgotten_person_is_erased_everywhere_and_never_mailed_again(store, single, settings, tmp_path):
    seed_week(store, ["space", "climate"])
    path = write_csv(tmp_path / "r.csv", "email,name", "ann@example.com,Ann", "bob@example.com,Bob")
    run_import(store, path)
    store.add_list(DigestList(slug="daily", name="Daily", from_email="news@planet.example"))  # double opt-in
    add_person(store, "daily", "ann@example.com", name="Ann")
    # her confirmation request and its per-address counter, a pause, a soft failure, a suppression
    assert send_confirmations(store, settings, OutboxSender(settings.outbox_dir), "daily", ["ann@example.com"]) == 1
    PauseIndex(store.r, store.prefix).add_pause("daily", "ann@example.com", NOW)
    store.record_event("ev-1", None, "blocked", "ann@example.com", soft="incr")
    store.suppress("ann@example.com", "blocked")
    in_flight = prepare_issue(store, settings, "weekly")  # ann is in this issue's frozen recipients ...
    for sent in settings.outbox_dir.rglob("*.eml"):
        sent.unlink()

    erased = forget_person(store, "Ann@Example.com")  # ... and asks to be forgotten now
    assert sorted(erased.lists) == ["daily", "weekly"] and len(erased.keys) == 3 and erased.issue_copies == 1
    export = export_person(store, "ann@example.com")
    assert export["lists"] == [] and export["suppression"] is None and export["other_records"] == {}
    assert export["forgotten"]["sha256"] == __import__("hashlib").sha256(b"ann@example.com").hexdigest()
    dump = [k for k in store.r.scan_iter(f"{store.prefix}:*") if "ann@example.com" in k]
    assert dump == []
    for key in store.r.scan_iter(f"{store.prefix}:*"):
        kind = store.r.type(key)
        held = {"hash": lambda k: store.r.hkeys(k), "zset": lambda k: store.r.zrange(k, 0, -1),
                "set": lambda k: store.r.smembers(k), "string": lambda k: [store.r.get(k)],
                "list": lambda k: store.r.lrange(k, 0, -1)}[kind](key)
        assert not any("ann@example.com" in str(v) for v in held), key

    send_inline(store, settings, OutboxSender(settings.outbox_dir), in_flight.issue_id)
    assert {p.name for p in settings.outbox_dir.rglob("*.eml")} == {"bob@example.com.eml"}

    summary, _ = run_import(store, path)  # the old file comes back
    assert (summary.new, summary.unchanged, summary.suppressed) == (0, 1, 1)
    assert store.get_subscriber("weekly", "ann@example.com").status == "suppressed"
    sub, _ = add_person(store, "daily", "ann@example.com")
    assert sub.status == "suppressed"
    store.add_subscribers("weekly", [Subscriber(email="ann@example.com")], reactivate=True)  # a confirmation
    assert store.get_subscriber("weekly", "ann@example.com").status == "suppressed"
    # even a record made active behind every check is not mailed: the send asks the hashed list too
    rec = Record.unpack(store.r.hget(store.key("list", "weekly", "subs"), "ann@example.com"))
    store.r.hset(store.key("list", "weekly", "subs"), "ann@example.com", rec._replace(status="active").pack())
    store.r.zadd(store.key("list", "weekly", "sel", rec.mask), {"ann@example.com": rec.seq})
    for sent in settings.outbox_dir.rglob("*.eml"):
        sent.unlink()
    plan = prepare_issue(store, settings, "weekly", again=True)
    send_inline(store, settings, OutboxSender(settings.outbox_dir), plan.issue_id)
    assert {p.name for p in settings.outbox_dir.rglob("*.eml")} == {"bob@example.com.eml"}
    assert store.r.hgetall(store.key("issue", plan.issue_id, "counts"))["suppressed"] == "1"


def test_the_command_line_imports_with_a_summary_and_forgets_on_request(store, single, settings, tmp_path):
    env = worker_env(settings)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", "from digest.cli import main; main()", *args],
                              env=env, capture_output=True, text=True, timeout=60)

    path = write_csv(tmp_path / "r.csv", "email,name", "ann@example.com,Ann", "bad-address,X", "bob@example.com,Bob")
    r = cli("subscribers", "import", "weekly", str(path))
    assert r.returncode == 2
    assert r.stdout == "weekly: 2 new, 0 updated, 0 unchanged, 1 refused, 0 suppressed\n"  # no progress bar off a tty
    assert "line 3: invalid email address 'bad-address'" in r.stderr
    r = cli("subscribers", "forget", "ann@example.com", "--yes")
    assert r.returncode == 0, r.stderr
    assert "ann@example.com forgotten: erased from 1 lists (weekly)" in r.stdout
    r = cli("subscribers", "import", "weekly", str(path))
    assert r.stdout.startswith("weekly: 0 new, 0 updated, 1 unchanged, 1 refused, 1 suppressed")
    r = cli("subscribers", "forget", "not-an-address", "--yes")
    assert r.returncode == 1 and "invalid email address 'not-an-address'" in r.stderr
    r = cli("subscribers", "add", "weekly", "ann@example.com")
    assert r.stdout == "ann@example.com is suppressed on weekly: not resubscribed\n"
    r = cli("subscribers", "forget", "zed@example.com", "--yes")  # asked before ever being added
    assert "zed@example.com forgotten: erased from 0 lists, 0 other records" in r.stdout
    r = cli("subscribers", "add", "weekly", "zed@example.com")
    assert r.stdout == "zed@example.com is on the suppression list: added to weekly as suppressed, never mailed\n"


def test_adding_someone_to_a_double_opt_in_list_sends_one_confirmation(store, weekly, settings):
    env = worker_env(settings)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", "from digest.cli import main; main()", *args],
                              env=env, capture_output=True, text=True, timeout=60)

    r = cli("subscribers", "add", "weekly", "Ann@Example.com", "--name", "Ann")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ann@example.com added to weekly, pending until they confirm: a confirmation email was sent\n"
    ann = store.get_subscriber("weekly", "ann@example.com")
    assert (ann.status, ann.source, ann.consent) == ("pending", "cli", "")
    assert store.subscriber_count("weekly") == 0
    r = cli("subscribers", "add", "weekly", "ann@example.com", "--topics", "space")  # again: no second email
    assert r.stdout == "ann@example.com is pending on weekly: updated\n"
    assert [p.name for p in settings.outbox_dir.rglob("*.eml")] == ["ann@example.com.eml"]
    r = cli("subscribers", "add", "weekly", "bob@example.com", "--opt-in", "single")
    assert r.returncode == 1 and "set the list to single opt-in first" in r.stderr
