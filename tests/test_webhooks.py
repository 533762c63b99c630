"""SendGrid's calls on real parts: the signed Event Webhook (the web app verifies, a real
worker applies), list health and the complaint pause, and the mailto unsubscribe
through Inbound Parse. Requests are signed here with a key pair made for the test,
exactly as SendGrid signs them."""

from __future__ import annotations

import ast
import base64
import json
import re
import time
import uuid
from collections import Counter
from urllib.parse import unquote

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from digest.deliver import make_sender
from digest.deliver.ledger import Ledger
from digest.deliver.send import build_envelope, prepare_issue, send_inline
from digest.events import apply_events
from digest.links import make_token
from digest.models import Schedule, Subscriber
from digest.web import create_app
from digest.webhook_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, load_public_key
from tests.factories import readers, seed_week
from tests.workers import Worker, wait_for, worker_env

PATH = "/webhooks/sendgrid/events"
INBOUND_SECRET = "inbound-secret-for-the-test-0123456789"


class SendGrid:
    """Signs like SendGrid: ECDSA P-256 over the timestamp header followed by the raw body."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        der = self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
        self.public_key = base64.b64encode(der).decode()

    def sign(self, body: bytes, timestamp: str) -> str:
        return base64.b64encode(self.key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()

    def headers(self, body: bytes, at: float | None = None) -> dict[str, str]:
        timestamp = str(int(at if at is not None else time.time()))
        return {SIGNATURE_HEADER: self.sign(body, timestamp), TIMESTAMP_HEADER: timestamp,
                "Content-Type": "application/json"}


@pytest.fixture
def sendgrid() -> SendGrid:
    return SendGrid()


@pytest.fixture
def hooks(settings, sendgrid):
    """Settings with both endpoints configured."""
    return settings.model_copy(update={"sendgrid_webhook_public_key": sendgrid.public_key,
                                       "inbound_parse_secret": SecretStr(INBOUND_SECRET)})


@pytest.fixture
def client(hooks, store):
    app = create_app(hooks)
    app.testing = True
    return app.test_client()


def queued(store, settings) -> int:
    """Tasks waiting in the broker's "celery" queue (under the installation's prefix)."""
    return store.r.llen(f"{settings.redis_prefix}:celery:celery")


def event(kind: str, email: str, issue: str | None = None, list_slug: str | None = "weekly", **extra):  # type: ignore[no-untyped-def]
    e = {"event": kind, "email": email, "timestamp": int(time.time()), "sg_event_id": uuid.uuid4().hex[:22],
         "sg_message_id": "m." + uuid.uuid4().hex, **extra}
    if list_slug:
        e["list"] = list_slug
    if issue:
        e["issue"] = issue
    return e


def handed_over(store, list_slug: str, issue_id: str, n: int) -> str:
    """An issue of which SendGrid accepted n recipients, recorded through the ledger's own steps."""
    ledger = Ledger(store)
    ledger.create(issue_id, list_slug, {"subject": "An issue"}, "{}")
    ledger.add_batches(issue_id, {"000001": [(0, 0, n)]}, planned=n, skipped=0)
    assert ledger.claim(issue_id, "000001", "T") == "claimed"
    assert ledger.finish(issue_id, "000001", "T", "accepted", {"recipients": n}, accepted=n)
    return issue_id


@pytest.fixture
def readers20(store, weekly):
    store.add_subscribers("weekly", readers(20, [None]))
    return [f"reader{i}@example.com" for i in range(20)]


def status(store, email: str, list_slug: str = "weekly") -> str:
    return store.get_subscriber(list_slug, email).status


def suppressed(store, email: str) -> bool:
    return store.suppressed([email])[0]


# -- the signature ---------------------------------------------------------------------------


def test_a_genuine_request_is_queued_and_answered_at_once(client, store, hooks, sendgrid):
    body = json.dumps([event("delivered", "reader0@example.com")]).encode()
    r = client.post(PATH, data=body, headers=sendgrid.headers(body))
    assert r.status_code == 202 and r.json == {"status": "queued"}
    assert queued(store, hooks) == 1
    # nothing applied in the web process: the worker does it
    assert store.event_counts("any") == {} and store.unmatched_event_counts() == {}


def _forgeries(sendgrid: SendGrid, body: bytes):  # type: ignore[no-untyped-def]
    now = time.time()
    genuine = sendgrid.headers(body)
    other_key = SendGrid()
    yield "no signature", body, {TIMESTAMP_HEADER: genuine[TIMESTAMP_HEADER]}, "missing " + SIGNATURE_HEADER
    yield "no timestamp", body, {SIGNATURE_HEADER: genuine[SIGNATURE_HEADER]}, "missing " + TIMESTAMP_HEADER
    yield "no headers at all", body, {}, "missing"
    yield "signed by someone else", body, other_key.headers(body), "does not match"
    altered = body.replace(b"delivered", b"spamreport")
    yield "body altered after signing", altered, genuine, "does not match"
    yield "a byte appended", body + b" ", genuine, "does not match"
    yield "timestamp changed after signing", body, {**genuine, TIMESTAMP_HEADER: str(int(now) + 1)}, \
        "does not match"
    yield "stale (replayed 6 minutes later)", body, sendgrid.headers(body, now - 360), "stale or replayed"
    yield "from the future", body, sendgrid.headers(body, now + 360), "stale or replayed"
    yield "signature not base64", body, {**genuine, SIGNATURE_HEADER: "not*base64!"}, "does not match"
    yield "timestamp not a number", body, {**genuine, TIMESTAMP_HEADER: "1e9"}, "not Unix seconds"


def test_forged_altered_stale_and_missing_signatures_are_refused(client, store, hooks, sendgrid, readers20):
    body = json.dumps([event("delivered", "reader0@example.com"), event("spamreport", "reader1@example.com")])
    for what, data, headers, reason in _forgeries(sendgrid, body.encode()):
        r = client.post(PATH, data=data, headers=headers)
        assert r.status_code == 403, what
        assert reason in r.json["error"], what
    assert queued(store, hooks) == 0
    assert status(store, "reader1@example.com") == "active"


def test_the_endpoint_exists_only_with_a_key_and_at_its_path(settings, store, sendgrid):
    body = b"[]"
    app = create_app(settings)  # no SENDGRID_WEBHOOK_PUBLIC_KEY
    assert app.test_client().post(PATH, data=body, headers=sendgrid.headers(body)).status_code == 404
    moved = settings.model_copy(update={"sendgrid_webhook_public_key": sendgrid.public_key,
                                        "sendgrid_webhook_path": "/hooks/sg-7f3a"})
    client = create_app(moved).test_client()
    assert client.post(PATH, data=body, headers=sendgrid.headers(body)).status_code == 404
    assert client.post("/hooks/sg-7f3a", data=body, headers=sendgrid.headers(body)).status_code == 202


def test_a_body_past_the_cap_is_refused_before_anything_else(client, store, hooks, sendgrid):
    body = b"[" + b" " * (hooks.sendgrid_webhook_max_bytes + 1) + b"]"
    r = client.post(PATH, data=body, headers=sendgrid.headers(body))
    assert r.status_code == 413
    assert queued(store, hooks) == 0


def test_a_bad_public_key_stops_start_up_naming_the_setting(settings):
    from digest.config import load_settings
    from digest.errors import ConfigError

    rsa = "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ=="  # noqa: E501
    for bad, why in [("not base64 at all!", "base64 DER"), (rsa, "not an ECDSA P-256")]:
        with pytest.raises(ConfigError, match=f"SENDGRID_WEBHOOK_PUBLIC_KEY: .*{why}"):
            load_settings(sendgrid_webhook_public_key=bad, redis_url=settings.redis_url)
    assert load_public_key(SendGrid().public_key).curve.name == "secp256r1"


# -- applying events: what each one does ------------------------------------------------------


def apply(store, settings, *events) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return apply_events(store, settings, json.dumps(list(events)))


def test_each_event_type_updates_the_subscriber_and_the_suppression_list(store, settings, readers20):
    issue = handed_over(store, "weekly", "weekly-20261123-1", 20)
    r = [f"reader{i}@example.com" for i in range(20)]
    summary = apply(
        store, settings,
        event("delivered", r[0], issue),
        event("bounce", r[1], issue, type="bounce", reason="550 5.1.1 no such user"),
        event("spamreport", r[2], issue),
        event("unsubscribe", r[3], issue),
        event("group_unsubscribe", r[4], issue, asm_group_id=7),
        event("dropped", r[5], issue, reason="Bounced Address"),
        event("dropped", r[6], issue, reason="Spam Reporting Address"),
        event("dropped", r[7], issue, reason="Spam Content (if Spam Checker app is enabled)"),
        event("open", r[8], issue),  # engagement: not ours to act on
        event("deferred", r[9], issue, response="421 try later"),
    )
    assert summary == {"applied": 8, "ignored": 2}
    assert [status(store, e) for e in r[:10]] == [
        "active", "bounced", "complained", "unsubscribed", "unsubscribed", "bounced", "complained", "active",
        "active", "active"]
    assert [suppressed(store, e) for e in r[:10]] == [
        False, True, True, True, False, True, True, False, False, False]
    assert json.loads(store.r.hget(store.key("suppressed"), r[1]))["reason"] == "bounce: 550 5.1.1 no such user"
    assert store.event_counts(issue) == {"delivered": 1, "bounce": 1, "spamreport": 1, "unsubscribe": 1,
                                         "group_unsubscribe": 1, "dropped": 3}
    assert store.subscriber_count("weekly") == 20 - 6


def test_blocks_bounce_an_address_only_after_three_in_a_row(store, settings, readers20):
    issue = handed_over(store, "weekly", "weekly-20261123-1", 20)
    amy, ben = "reader0@example.com", "reader1@example.com"
    apply(store, settings, event("bounce", amy, issue, type="blocked"), event("blocked", amy, issue))
    assert status(store, amy) == "active" and not suppressed(store, amy)
    apply(store, settings, event("delivered", amy, issue))  # a delivery ends the run
    apply(store, settings, event("blocked", amy, issue), event("blocked", amy, issue))
    assert status(store, amy) == "active"
    for _ in range(3):
        apply(store, settings, event("bounce", ben, issue, type="blocked", reason="554 blocked"))
    assert status(store, ben) == "bounced" and suppressed(store, ben)
    assert "blocked 3 times in a row: 554 blocked" in store.r.hget(store.key("suppressed"), ben)
    apply(store, settings, event("blocked", amy, issue))  # amy's third in a row
    assert status(store, amy) == "bounced"
    assert store.event_counts(issue) == {"blocked": 8, "delivered": 1}


def test_a_status_only_moves_to_a_stronger_one(store, settings, readers20):
    issue = handed_over(store, "weekly", "weekly-20261123-1", 20)
    amy = "reader0@example.com"
    apply(store, settings, event("spamreport", amy, issue), event("unsubscribe", amy, issue),
          event("bounce", amy, issue, type="bounce"))
    assert status(store, amy) == "complained"
    assert json.loads(store.r.hget(store.key("suppressed"), amy))["reason"] == "spam report"  # the first reason


def test_events_of_other_mail_touch_only_the_suppression_list(store, settings, readers20):
    stranger, reader = "stranger@elsewhere.example", "reader0@example.com"
    summary = apply(store, settings,
                    event("spamreport", stranger, list_slug=None),
                    event("bounce", reader, list_slug=None, type="bounce"),
                    event("delivered", "someone@elsewhere.example", list_slug=None))
    assert summary == {"applied": 3}
    assert suppressed(store, stranger) and suppressed(store, reader)
    assert status(store, reader) == "active"  # on the list, but that mail was not the list's
    assert store.unmatched_event_counts() == {"spamreport": 1, "bounce": 1, "delivered": 1}


def test_unknown_lists_issues_and_subscribers_are_counted_and_ignored(store, settings, readers20):
    issue = handed_over(store, "weekly", "weekly-20261123-1", 20)
    summary = apply(store, settings,
                    event("delivered", "reader0@example.com", "weekly-20991231-9"),  # no such issue
                    event("delivered", "reader0@example.com", issue, list_slug="gone"),  # no such list
                    event("spamreport", "nobody@example.com", issue),  # not on the list
                    event("delivered", "reader1@example.com", issue, list_slug="../../x"),  # not a slug
                    event("delivered", "reader2@example.com", issue))
    assert summary == {"unmatched": 3, "applied": 2}
    assert store.event_counts(issue) == {"spamreport": 1, "delivered": 1}
    assert store.unmatched_event_counts() == {"delivered": 3}
    assert suppressed(store, "nobody@example.com")  # a spam report is honoured whoever it is from
    assert not store.r.exists(store.key("issue", "weekly-20991231-9", "events"))


def test_an_event_naming_another_lists_issue_neither_counts_nor_pauses(store, settings, readers20, weekly):
    store.add_list(weekly.model_copy(update={"slug": "other", "schedule": Schedule()}))
    store.add_subscribers("other", readers(20, [None]))
    issue = handed_over(store, "weekly", "weekly-20261123-1", 20)  # weekly has no schedule
    summary = apply(store, settings, *(event("spamreport", f"reader{i}@example.com", issue) for i in range(3)),
                    *(event("spamreport", f"reader{i}@example.com", issue, list_slug="other") for i in range(5)),
                    event("group_unsubscribe", "reader9@example.com", issue, list_slug="gone"))
    assert summary == {"applied": 3, "unmatched": 6}
    assert store.event_counts(issue) == {"spamreport": 3}
    assert store.unmatched_event_counts() == {"spamreport": 5, "group_unsubscribe": 1}
    assert store.get_list("other").schedule.paused == ""  # weekly's complaints are not other's
    assert status(store, "reader0@example.com", "other") == "complained"  # the report itself still counts
    assert not suppressed(store, "reader9@example.com")  # a group names a list; this one is not ours


def test_malformed_bodies_and_events_are_dropped_and_the_rest_applied(store, settings, readers20):
    issue = handed_over(store, "weekly", "weekly-20261123-1", 20)
    assert apply_events(store, settings, "[{not json") == {"malformed": 1}
    assert apply_events(store, settings, '{"event": "spamreport"}') == {"malformed": 1}
    summary = apply(store, settings, "a string", 42, None, {"event": "bounce"}, {"event": 1, "email": []},
                    event("bounce", "not-an-address", issue), event("spamreport", "reader0@example.com", issue))
    assert summary == {"invalid": 6, "applied": 1}
    assert status(store, "reader0@example.com") == "complained"


def test_an_event_without_an_id_is_still_applied_once(store, settings, readers20):
    issue = handed_over(store, "weekly", "weekly-20261123-1", 20)
    no_id = {k: v for k, v in event("delivered", "reader0@example.com", issue).items() if k != "sg_event_id"}
    for _ in range(3):
        apply(store, settings, no_id)
    assert store.event_counts(issue) == {"delivered": 1}


# -- a genuine batch, delivered three times, through the web app and a real worker -----------


@pytest.mark.slow
def test_a_genuine_batch_delivered_three_times_is_applied_once_by_a_worker(
        client, store, hooks, sendgrid, weekly, tmp_path):
    seed_week(store, ["climate", "space"])
    store.add_subscribers("weekly", readers(12, [None]))
    plan = prepare_issue(store, hooks, "weekly")
    send_inline(store, hooks, make_sender(hooks), plan.issue_id)
    emails = [f"reader{i}@example.com" for i in range(12)]
    batch = [event("delivered", e, plan.issue_id) for e in emails[2:]] + [
        event("bounce", emails[0], plan.issue_id, type="bounce", reason="550 no such user"),
        event("spamreport", emails[1], plan.issue_id),
        event("open", emails[2], plan.issue_id),
    ]
    body = json.dumps(batch).encode()
    for _ in range(3):  # SendGrid retries; duplicates are common
        assert client.post(PATH, data=body, headers=sendgrid.headers(body)).status_code == 202
    assert queued(store, hooks) == 3
    worker = Worker(worker_env(hooks), tmp_path / "worker.log", "events").start()
    try:
        wait_for(lambda: queued(store, hooks) == 0 and not store.r.hlen(f"{hooks.redis_prefix}:celery:unacked"),
                 60, what="the worker to take and finish the three deliveries")
    finally:
        worker.stop()
    log = (tmp_path / "worker.log").read_text()
    # two pool processes take copies at once and race event by event: still each applied once
    summaries = [ast.literal_eval(m) for m in re.findall(r"apply_events\[.*\] succeeded in .*?s: (\{.*\})", log)]
    assert len(summaries) == 3, log[-3000:]
    assert sum((Counter(s) for s in summaries), Counter()) == {"applied": 12, "duplicate": 24, "ignored": 3}
    assert store.event_counts(plan.issue_id) == {"delivered": 10, "bounce": 1, "spamreport": 1}
    assert status(store, emails[0]) == "bounced" and status(store, emails[1]) == "complained"
    assert suppressed(store, emails[0]) and suppressed(store, emails[1])
    assert store.subscriber_count("weekly") == 10


# -- list health and the complaint pause ---------------------------------------------------------


@pytest.fixture
def scheduled(store, weekly):
    store.add_list(weekly.model_copy(update={"schedule": Schedule(cadence="weekly", weekday="monday")}))
    return weekly


def test_complaints_past_the_rate_pause_the_schedule_once_per_issue(store, settings, scheduled):
    store.add_subscribers("weekly", readers(1000, [None]))
    issue = handed_over(store, "weekly", "weekly-20261123-1", 1000)
    reports = [event("spamreport", f"reader{i}@example.com", issue) for i in range(6)]
    apply(store, settings, *reports[:3])  # 0.30 %: at the limit, not past it
    assert store.get_list("weekly").schedule.paused == ""
    apply(store, settings, reports[3])  # 0.40 %
    paused = store.get_list("weekly").schedule.paused
    assert "issue weekly-20261123-1 had 4 spam reports for 1000 handed over (0.40%, above 0.30%)" in paused
    assert "digest lists schedule weekly --resume" in paused
    # an editor looks and resumes; the same issue's late reports do not pause it again
    lst = store.get_list("weekly")
    store.add_list(lst.model_copy(update={"schedule": lst.schedule.model_copy(update={"paused": ""})}))
    apply(store, settings, reports[4])
    assert store.get_list("weekly").schedule.paused == ""
    # a later issue past the limit does
    later = handed_over(store, "weekly", "weekly-20261130-1", 1000)
    apply(store, settings, *(event("spamreport", f"reader{i}@example.com", later) for i in range(10, 14)))
    assert "issue weekly-20261130-1" in store.get_list("weekly").schedule.paused


def test_on_a_small_list_one_report_does_not_pause_but_two_do(store, settings, scheduled):
    store.add_subscribers("weekly", readers(100, [None]))
    issue = handed_over(store, "weekly", "weekly-20261123-1", 100)
    apply(store, settings, event("spamreport", "reader0@example.com", issue))  # 1 %, but one reader
    assert store.get_list("weekly").schedule.paused == ""
    apply(store, settings, event("spamreport", "reader1@example.com", issue))
    assert "2 spam reports for 100 handed over (2.00%" in store.get_list("weekly").schedule.paused


def test_a_list_without_a_schedule_is_not_given_one(store, settings, weekly):
    store.add_subscribers("weekly", readers(100, [None]))
    issue = handed_over(store, "weekly", "weekly-20261123-1", 100)
    apply(store, settings, *(event("spamreport", f"reader{i}@example.com", issue) for i in range(3)))
    assert store.get_list("weekly").schedule is None


def test_lists_health_shows_rates_per_issue_and_the_pause(run, store, settings, scheduled):
    store.add_subscribers("weekly", readers(400, [None]))
    first = handed_over(store, "weekly", "weekly-20261116-1", 400)
    second = handed_over(store, "weekly", "weekly-20261123-1", 400)
    apply(store, settings,
          *(event("delivered", f"reader{i}@example.com", first) for i in range(396)),
          *(event("bounce", f"reader{i}@example.com", first, type="bounce") for i in range(396, 400)),
          *(event("delivered", f"reader{i}@example.com", second) for i in range(398)),
          event("spamreport", "reader10@example.com", second), event("spamreport", "reader11@example.com", second),
          event("unsubscribe", "reader12@example.com", second))
    r = run("lists", "health", "weekly")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("weekly: schedule PAUSED: issue weekly-20261123-1 had 2 spam reports")
    assert lines[2].split() == ["weekly-20261116-1", "400", "396", "4", "1.00%", "0", "0.00%", "0"]
    assert lines[3].split() == ["weekly-20261123-1", "400", "398", "0", "0.00%", "2", "0.50%!", "1"]
    assert "! complaint rate above 0.30% (with at least 2 reports)" in r.stdout
    assert run("lists", "health", "weekly", "--issues", "1").stdout.count("weekly-2026") == 2  # header + 1 row
    r = run("lists", "health", "nolist")
    assert r.returncode == 1 and "unknown list: 'nolist'" in r.stderr


# -- Inbound Parse: the mailto unsubscribe -------------------------------------------------------

INBOUND = f"/webhooks/inbound/{INBOUND_SECRET}"


def parsed_mail(sender: str, to: str, subject: str, *, spf: str = "pass", dkim: str = "",
                envelope_from: str | None = None) -> dict[str, str]:
    """The form fields SendGrid's Inbound Parse posts (multipart/form-data)."""
    return {"from": sender, "to": to, "subject": subject, "SPF": spf, "dkim": dkim,
            "envelope": json.dumps({"to": [to.split("<")[-1].rstrip(">")],
                                    "from": envelope_from or sender.split("<")[-1].rstrip(">")}),
            "text": "please remove me", "sender_ip": "192.0.2.1", "charsets": "{}"}


def post_mail(client, fields: dict[str, str], path: str = INBOUND):  # type: ignore[no-untyped-def]
    return client.post(path, data=fields, content_type="multipart/form-data")


def test_the_mailto_in_a_real_header_unsubscribes_by_its_token(client, store, hooks, weekly):
    seed_week(store, ["space"])
    store.add_subscribers("weekly", readers(3, [None]))
    hooks = hooks.model_copy(update={"inbound_parse_domain": "parse.planet.example"})
    plan = prepare_issue(store, hooks, "weekly")
    envelope, _ = build_envelope(store, hooks, plan.issue_id, plan.batches[0])
    header = next(r for r in envelope.recipients if r.email == "reader1@example.com").headers["List-Unsubscribe"]
    mailto = header.split(", ")[1].strip("<>").removeprefix("mailto:")
    address, _, query = mailto.partition("?")
    assert address == "unsubscribe+weekly@parse.planet.example"
    subject = unquote(query.removeprefix("subject="))
    # SPF fails and no DKIM: the token alone is the credential, as in the https link
    r = post_mail(client, parsed_mail("Reader One <reader1@example.com>", address, subject, spf="fail"))
    assert r.status_code == 200 and "unsubscribed reader1@example.com from weekly" in r.text
    assert status(store, "reader1@example.com") == "unsubscribed"
    assert status(store, "reader0@example.com") == "active"
    assert not suppressed(store, "reader1@example.com")  # one list, not every list


def test_a_token_in_a_reply_subject_and_from_another_address_still_names_its_reader(client, store, hooks, weekly):
    store.add_subscriber("weekly", Subscriber(email="amy@example.com"))
    token = make_token(hooks, "weekly", "amy@example.com")
    fields = parsed_mail("Amy's phone <amy.mobile@other.example>", "unsubscribe+weekly@planet.example",
                         f"Re: unsubscribe {token}", spf="none")
    assert post_mail(client, fields).status_code == 200
    assert status(store, "amy@example.com") == "unsubscribed"


@pytest.mark.parametrize("how", ["spf", "dkim"])
def test_an_authenticated_sender_is_unsubscribed_from_the_list_in_the_address(client, store, weekly, how):
    store.add_subscriber("weekly", Subscriber(email="amy@example.com"))
    store.add_subscriber("weekly", Subscriber(email="ben@example.com"))
    fields = parsed_mail("Amy <Amy@Example.com>", "unsubscribe+weekly@planet.example", "unsubscribe",
                         spf="pass" if how == "spf" else "softfail",
                         dkim="{@example.com : pass}" if how == "dkim" else "")
    r = post_mail(client, fields)
    assert r.status_code == 200 and "unsubscribed amy@example.com from weekly as the authenticated sender" in r.text
    assert status(store, "amy@example.com") == "unsubscribed" and status(store, "ben@example.com") == "active"


def test_the_list_may_be_named_in_the_subject(client, store, weekly):
    store.add_subscriber("weekly", Subscriber(email="amy@example.com"))
    fields = parsed_mail("amy@example.com", "unsubscribe@planet.example", "Unsubscribe weekly",
                         dkim="{@example.com : pass}")
    assert "unsubscribed amy@example.com" in post_mail(client, fields).text
    assert status(store, "amy@example.com") == "unsubscribed"


@pytest.mark.parametrize("forgery", [
    dict(spf="fail"),  # the forger's server is not allowed to send for example.com
    dict(spf="softfail", dkim="{@forger.example : pass}"),  # DKIM for another domain
    dict(spf="pass", envelope_from="bounce@forger.example"),  # SPF passed, for the forger's own domain
    dict(spf="none", dkim="{@example.com : fail}"),
])
def test_a_forged_sender_is_ignored(client, store, weekly, forgery):
    store.add_subscriber("weekly", Subscriber(email="amy@example.com"))
    fields = parsed_mail("Amy <amy@example.com>", "unsubscribe+weekly@planet.example", "unsubscribe", **forgery)
    r = post_mail(client, fields)
    assert r.status_code == 200 and r.text.startswith("ignored: sender amy@example.com not authenticated")
    assert status(store, "amy@example.com") == "active"


@pytest.mark.parametrize("sender", [
    "amy@example.com)<mallory@example.com>",  # read as amy's by Python < 3.11.10, mallory's by mail software
    "amy@example.com, mallory@example.com",
    "Amy <amy@example.com>, Mallory <mallory@example.com>",
])
def test_a_from_that_reads_two_ways_authenticates_nobody(client, store, weekly, sender):
    """Mallory's own provider signs her mail (DKIM pass for example.com); a From header that names
    amy to us and Mallory to everyone else must not unsubscribe amy."""
    store.add_subscriber("weekly", Subscriber(email="amy@example.com"))
    fields = parsed_mail(sender, "unsubscribe+weekly@planet.example", "unsubscribe", spf="pass",
                         dkim="{@example.com : pass}", envelope_from="mallory@example.com")
    r = post_mail(client, fields)
    assert r.status_code == 200 and r.text.startswith("ignored: no valid sender"), r.text
    assert status(store, "amy@example.com") == "active"


def test_mail_naming_nothing_or_nobody_is_answered_200_and_changes_nothing(client, store, weekly):
    store.add_subscriber("weekly", Subscriber(email="amy@example.com"))
    cases = [
        (parsed_mail("amy@example.com", "hello@planet.example", "hi there"), "ignored: no token and no list named"),
        (parsed_mail("amy@example.com", "unsubscribe+nolist@planet.example", "x"), "ignored: unknown list"),
        (parsed_mail("zed@example.com", "unsubscribe+weekly@planet.example", "x"), "ignored: unknown subscriber"),
        (parsed_mail("not an address", "unsubscribe+weekly@planet.example", "x"), "ignored: no valid sender"),
        ({"subject": "unsubscribe forged.AAAAAAAAAAAAAAAAAAAAAA", "envelope": "{not json"},
         "ignored: no token and no list named"),
    ]
    for fields, outcome in cases:
        r = post_mail(client, fields)
        assert r.status_code == 200 and r.text.startswith(outcome), (fields, r.text)
    assert status(store, "amy@example.com") == "active"


def test_inbound_parse_is_404_without_the_secret(client, settings, store, weekly):
    store.add_subscriber("weekly", Subscriber(email="amy@example.com"))
    fields = parsed_mail("amy@example.com", "unsubscribe+weekly@planet.example", "unsubscribe")
    for path in ["/webhooks/inbound/wrong-secret-of-some-length", f"/webhooks/inbound/{INBOUND_SECRET[:-1]}",
                 f"/webhooks/inbound/{INBOUND_SECRET}x", "/webhooks/inbound/"]:
        assert post_mail(client, fields, path).status_code == 404, path
    unset = create_app(settings).test_client()  # no INBOUND_PARSE_SECRET: no endpoint at all
    assert post_mail(unset, fields).status_code == 404
    assert status(store, "amy@example.com") == "active"


def test_an_oversized_mail_is_answered_200_and_dropped(client, store, weekly):
    store.add_subscriber("weekly", Subscriber(email="amy@example.com"))
    fields = parsed_mail("amy@example.com", "unsubscribe+weekly@planet.example", "unsubscribe",
                         dkim="{@example.com : pass}")
    fields["html"] = "x" * (3 * 1024 * 1024)  # past the per-field cap
    r = post_mail(client, fields)
    assert r.status_code == 200 and "too large" in r.text
    assert status(store, "amy@example.com") == "active"
