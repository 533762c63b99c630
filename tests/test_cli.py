"""The command line: clear errors naming the culprit, non-zero exits, nothing lost."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from digest.models import Subscriber


def test_lists_topics_feeds_and_subscribers_round_trip(run, store):
    assert run("feeds", "add", "planet", "https://planet.example/feed.xml", "--name", "Planet").returncode == 0
    r = run("lists", "add", "weekly", "--name", "Weekly", "--from-email", "news@planet.example", "--opt-in", "single")
    assert r.returncode == 0, r.stderr
    r = run("topics", "add", "space", "--list", "weekly", "--name", "Space", "--description", "Rockets.",
            "--keywords", "nasa, rocket")
    assert r.returncode == 0, r.stderr
    assert run("subscribers", "add", "weekly", "Ann@Example.com", "--name", "Ann").returncode == 0
    assert "planet\thttps://planet.example/feed.xml\tlast ok never\tok" in run("feeds", "ls").stdout
    assert "space\tSpace\tRockets.\tnasa, rocket" in run("topics", "ls", "--list", "weekly").stdout
    assert "weekly\tWeekly\ten\t1 active subscriber\t" in run("lists", "ls").stdout
    assert "ann@example.com\tAnn\tactive\tall topics" in run("subscribers", "ls", "weekly").stdout


@pytest.fixture
def single(store, weekly):
    """The Weekly Planet with single opt-in: people added from the command line are active at once."""
    store.add_list(weekly.model_copy(update={"opt_in": "single"}))


@pytest.mark.parametrize("args, culprit", [
    (("subscribers", "add", "nolist", "a@example.com"), "unknown list: 'nolist'"),
    (("topics", "add", "space", "--list", "nolist", "--name", "Space"), "unknown list: 'nolist'"),
    (("topics", "rm", "cooking", "--list", "weekly"), "unknown topic of list 'weekly': 'cooking'"),
    (("topics", "add", "Bad Slug", "--list", "weekly", "--name", "X"), "not a valid id"),
    (("lists", "add", "weekly", "--name", "W", "--from-email", "n@p.example", "--locale", "xx"), "locale 'xx'"),
    (("feeds", "add", "planet", "ftp://planet.example/feed"), "not an http(s) URL"),
    (("feeds", "add", "Bad Id", "https://planet.example/feed"), "not a valid id"),
    (("feeds", "rm", "nothere"), "unknown feed: 'nothere'"),
    (("send", "status", "weekly-20260101-9"), "unknown issue"),
])
def test_bad_input_names_the_culprit_and_exits_non_zero(run, store, weekly, args, culprit):
    r = run(*args)
    assert r.returncode != 0
    assert culprit in r.stderr
    assert "Traceback" not in r.stderr


def test_an_invalid_address_is_refused_and_nothing_else_is_lost(run, store, single):
    assert run("subscribers", "add", "weekly", "ok@example.com").returncode == 0
    r = run("subscribers", "add", "weekly", "not-an-address")
    assert r.returncode == 1 and "invalid email address 'not-an-address'" in r.stderr
    assert store.subscriber_count("weekly") == 1


def test_a_malformed_setting_is_named(run, store):
    r = run("lists", "ls", BATCH_SIZE="5000")
    assert r.returncode == 1 and "BATCH_SIZE" in r.stderr


def test_no_redis_is_a_clear_error(run):
    r = run("lists", "ls", REDIS_URL="redis://127.0.0.1:9/0")
    assert r.returncode == 1 and "no Redis answers at REDIS_URL=redis://127.0.0.1:9/0" in r.stderr


def test_collect_now_reports_each_feed_and_fails_on_a_broken_one(run, store):
    from digest.demo import serve_samples

    with serve_samples() as base:
        run("feeds", "add", "orbital", f"{base}/orbital-times.atom")
        run("feeds", "add", "missing", f"{base}/no-such-feed.xml")
        r = run("collect")
    assert r.returncode == 1
    assert "orbital: 6 new, 0 duplicates" in r.stdout
    assert "missing: error:" in r.stderr and "HTTP 404" in r.stderr
    assert store.feed_state("orbital").last_ok_at is not None


def test_the_bundled_samples_work_outside_the_demo_and_name_nothing_else(run, store):
    r = run("feeds", "add", "wire", "sample:planet-wire.xml")
    assert r.returncode == 0, r.stderr
    collected = run("collect")
    assert collected.returncode == 0, collected.stderr
    assert re.search(r"wire: [1-9]\d* new", collected.stdout)
    assert collected.stdout.count("new") == 1
    again = run("collect")
    assert "wire: 0 new" in again.stdout  # the same articles, recognised
    for bad in ("sample:../topics/weekly.toml", "sample:/etc/passwd", "sample:nope.xml"):
        refused = run("feeds", "add", "bad", bad)
        assert refused.returncode != 0 and "names no bundled sample" in refused.stderr
    assert [f.id for f in store.feeds()] == ["wire"]


def test_topic_files_import_export_round_trip(run, store, weekly, tmp_path):
    path = tmp_path / "topics.toml"
    path.write_text('language = "en"\n[[topic]]\nslug = "cooking"\nname = "Cooking"\n'
                    'description = "Recipes and restaurants."\nkeywords = ["recipe", "chef"]\n'
                    '[[topic]]\nslug = "space"\nname = "Space"\n', encoding="utf-8")
    r = run("topics", "import", str(path), "--list", "weekly")
    assert r.returncode == 0, r.stderr
    assert [t.slug for t in store.get_list("weekly").topics] == ["cooking", "space"]
    exported = run("topics", "export", "--list", "weekly").stdout
    again = tmp_path / "again.toml"
    again.write_text(exported, encoding="utf-8")
    assert run("topics", "import", str(again), "--list", "weekly").returncode == 0
    assert store.get_list("weekly").topics[0].keywords == ["recipe", "chef"]
    path.write_text('[[topic]]\nslug = "x"\n', encoding="utf-8")
    r = run("topics", "import", str(path), "--list", "weekly")
    assert r.returncode == 1 and "topic 1 ('x'): name" in r.stderr
    assert [t.slug for t in store.get_list("weekly").topics] == ["cooking", "space"]  # nothing lost


def test_send_now_twice_refuses_the_second_unless_forced(run, store, single, settings):
    from tests.factories import seed_week

    seed_week(store, ["space"])
    assert run("subscribers", "add", "weekly", "ann@example.com").returncode == 0
    first = run("send", "now", "weekly", "--here")
    assert first.returncode == 0, first.stderr
    again = run("send", "now", "weekly", "--here")
    assert again.returncode == 1 and "nothing new for list 'weekly' since its last issue" in again.stderr
    assert len(list(settings.outbox_dir.glob("*/ann@example.com.eml"))) == 1  # mailed once
    forced = run("send", "now", "weekly", "--here", "--force")
    assert forced.returncode == 0, forced.stderr
    assert len(list(settings.outbox_dir.glob("*/ann@example.com.eml"))) == 2


def test_an_import_with_bad_rows_keeps_every_good_row_and_names_each_bad_one(run, store, single, tmp_path):
    csv_file = tmp_path / "readers.csv"
    lines = [
        "email;name;topics",
        "ann@example.com;Ann;space",
        "not-an-address;Mallory;",
        "bob@example.com;Bob;space;extra",  # more fields than the header
        "carol@example.com;Carol",  # fewer fields
        None,  # dan: a byte that is not UTF-8
        "erin@example.com;Erin;cooking",  # an unknown topic
        "ANN@example.com;Ann again;",  # twice in the file
        f"fay@example.com;{'F' * 300};",  # a name too long
        'gus@example.com;"=HYPERLINK(""https://evil.example"")";climate',
    ]
    csv_file.write_bytes(b"".join(line.encode() + b"\n" if line is not None else b"dan@example.com;D\xe9n;\n"
                                  for line in lines))
    r = run("subscribers", "import", "weekly", str(csv_file))
    assert r.returncode == 2, r.stderr
    assert "weekly: 2 new, 0 updated, 0 unchanged, 7 refused, 0 suppressed" in r.stdout
    for line, reason in [(3, "invalid email address"), (4, "more than the header"), (5, "fewer than the header"),
                         (6, "not UTF-8"), (7, "cooking"), (8, "already in the file"), (9, "at most 200")]:
        assert f"line {line}: " in r.stderr and reason in r.stderr.split(f"line {line}: ")[1].splitlines()[0]
    assert store.get_subscriber("weekly", "ann@example.com").name == "Ann"
    assert store.get_subscriber("weekly", "gus@example.com").topics == ["climate"]
    assert "Traceback" not in r.stderr


def test_an_unsubscribed_reader_in_the_next_import_stays_unsubscribed(run, store, weekly, tmp_path):
    store.add_subscriber("weekly", Subscriber(email="gone@example.com"))
    store.unsubscribe("weekly", "gone@example.com")
    csv_file = tmp_path / "again.csv"
    csv_file.write_text("email,name\ngone@example.com,Gone\n", encoding="utf-8")
    assert run("subscribers", "import", "weekly", str(csv_file)).returncode == 0
    assert run("subscribers", "add", "weekly", "gone@example.com").returncode == 0
    assert store.get_subscriber("weekly", "gone@example.com").status == "unsubscribed"
    assert store.subscriber_count("weekly") == 0


def test_export_neutralises_formulas_and_unsubscribe_and_rm_work(run, store, weekly, tmp_path):
    import csv
    import io

    store.add_subscriber("weekly", Subscriber(email="gus@example.com", name='=HYPERLINK("https://evil.example")',
                                              topics=["climate"]))
    store.add_subscriber("weekly", Subscriber(email="amy@example.com", name="Amy"))
    r = run("subscribers", "export", "weekly")
    assert r.returncode == 0, r.stderr
    rows = {row["email"]: row for row in csv.DictReader(io.StringIO(r.stdout))}
    assert rows["gus@example.com"]["name"] == '\'=HYPERLINK("https://evil.example")'
    assert rows["gus@example.com"]["topics"] == "climate" and rows["amy@example.com"]["status"] == "active"
    assert run("subscribers", "unsubscribe", "weekly", "amy@example.com").returncode == 0
    assert store.get_subscriber("weekly", "amy@example.com").status == "unsubscribed"
    assert run("subscribers", "rm", "weekly", "gus@example.com").returncode == 0
    assert store.subscriber_count("weekly") == 0
    r = run("subscribers", "rm", "weekly", "gus@example.com")
    assert r.returncode == 1 and "unknown subscriber" in r.stderr


def test_a_bad_or_missing_redis_url_is_named_not_a_traceback(run):
    r = run("lists", "ls", REDIS_URL="garbage")
    assert r.returncode == 1 and "REDIS_URL" in r.stderr and "must be a Redis URL" in r.stderr
    assert "Traceback" not in r.stderr
    r = run("lists", "ls", REDIS_URL="")  # unset: the default is used, and said so
    assert "REDIS_URL is not set; using redis://127.0.0.1:6379/0" in r.stderr and "Traceback" not in r.stderr


def test_dev_py_help_is_not_an_error():
    from pathlib import Path

    r = subprocess.run([sys.executable, str(Path(__file__).resolve().parents[1] / "dev.py"), "--help"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "python3 dev.py demo" in r.stdout


def test_lists_add_sets_postal_address_intro_and_subject_length_and_keeps_them_on_resave(run, store):
    r = run("lists", "add", "weekly", "--name", "Weekly", "--from-email", "news@planet.example")
    assert r.returncode == 0 and "no postal address" in r.stderr and "--postal-address" in r.stderr
    r = run("lists", "add", "weekly", "--name", "Weekly", "--from-email", "news@planet.example",
            "--postal-address", "1 Orbit Road,\n Springfield", "--intro", "Hello.", "--subject-max-chars", "50")
    assert r.returncode == 0 and "postal address" not in r.stderr
    lst = store.get_list("weekly")
    assert (lst.postal_address, lst.intro, lst.subject_max_chars) == ("1 Orbit Road, Springfield", "Hello.", 50)
    assert run("lists", "add", "weekly", "--name", "Weekly 2", "--from-email", "news@planet.example").returncode == 0
    assert store.get_list("weekly").postal_address == "1 Orbit Road, Springfield"  # kept unless given
    r = run("lists", "add", "weekly", "--name", "W", "--from-email", "news@planet.example", "--subject-max-chars", "5")
    assert r.returncode == 1 and "subject_max_chars" in r.stderr
