"""Sending an issue through the real sendgrid client to a loopback SendGrid."""

from __future__ import annotations

import email
import re
from email.policy import default as default_policy

import pytest

from digest.deliver.ledger import Ledger
from digest.deliver.outbox import OutboxSender
from digest.deliver.send import build_envelope, prepare_issue, send_batch, send_inline
from digest.deliver.sendgrid import SendGridSender
from digest.errors import InvalidInput
from digest.links import read_token
from digest.models import Subscriber
from digest.store import Store
from tests.factories import readers, seed_week
from tests.sendgrid_server import Behaviour, SendGridStub

CHOICES = [None, ["space"], ["climate", "markets"], ["markets"], ["space", "more"]]


@pytest.fixture
def week(store: Store, weekly, topics):
    return seed_week(store, ["climate", "space", "markets"])


def sendgrid(stub: SendGridStub) -> SendGridSender:
    return SendGridSender("SG.test-key", host=stub.url, timeout=5)


def test_every_reader_gets_their_variant_once_with_their_own_links(store, settings, week):
    store.add_subscribers("weekly", readers(230, CHOICES))
    settings = settings.model_copy(update={"batch_size": 50})
    with SendGridStub() as stub:
        plan = prepare_issue(store, settings, "weekly")
        assert send_inline(store, settings, sendgrid(stub), plan.issue_id) == {"accepted": len(plan.batches)}
    assert stub.invalid == []
    assert len(stub.recipients) == 230 and not stub.duplicates
    assert stub.auth == {"Bearer SG.test-key"}
    for body in stub.requests:
        assert body["tracking_settings"] == {"click_tracking": {"enable": False, "enable_text": False},
                                             "open_tracking": {"enable": False}}  # whatever the account says
        assert body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert body["headers"]["List-Id"] == "The Weekly Planet <weekly.planet.example>"
        assert body["custom_args"] == {"list": "weekly", "issue": plan.issue_id,
                                       "batch": body["custom_args"]["batch"]}
        assert body["custom_args"]["batch"] in plan.batches
        assert body["content"][0]["type"] == "text/plain"
        html = body["content"][1]["value"]
        token_marker = plan.rendered.markers.token
        assert f'href="https://digest.example/u/{token_marker}"' in html  # SendGrid fills in each reader
        emails = [p["to"][0]["email"] for p in body["personalizations"]]
        # one request, one variant: every recipient in it chose the same topics
        assert len({tuple(store.get_subscriber("weekly", e).topics or ()) for e in emails}) == 1
        for p in body["personalizations"]:
            token = p["substitutions"][token_marker]
            assert read_token(settings, token) == ("weekly", p["to"][0]["email"])
            url = f"https://digest.example/u/{token}"
            https, mailto = p["headers"]["List-Unsubscribe"].split(", ")
            assert https == f"<{url}>" and mailto.startswith("<mailto:unsubscribe+weekly@planet.example?")
    space_only = next(b for b in stub.requests
                      if b["personalizations"][0]["to"][0]["email"] == "reader1@example.com")
    assert "Space story number 0" in space_only["content"][1]["value"]
    assert "Climate story number 0" not in space_only["content"][1]["value"]
    status = Ledger(store).status(plan.issue_id)
    assert status.counts["accepted"] == 230 and status.finished


def test_unsubscribes_and_suppressions_during_a_send_are_honoured(store, settings, week):
    store.add_subscribers("weekly", readers(20, [None]))
    plan = prepare_issue(store, settings, "weekly")  # recipients frozen here ...
    store.unsubscribe("weekly", "reader3@example.com")  # ... and these arrive mid-send
    store.suppress("reader4@example.com", "bounce")
    with SendGridStub() as stub:
        send_inline(store, settings, sendgrid(stub), plan.issue_id)
    assert set(stub.recipients) == {f"reader{i}@example.com" for i in range(20)} - {
        "reader3@example.com", "reader4@example.com"}
    assert Ledger(store).status(plan.issue_id).counts["suppressed"] == 2


def test_a_400_fails_only_its_batch_and_keeps_sendgrids_reason(store, settings, week):
    store.add_subscribers("weekly", readers(30, [None]))
    settings = settings.model_copy(update={"batch_size": 10})
    with SendGridStub(Behaviour(script=[400])) as stub:
        plan = prepare_issue(store, settings, "weekly")
        assert send_inline(store, settings, sendgrid(stub), plan.issue_id) == {"failed": 1, "accepted": 2}
    status = Ledger(store).status(plan.issue_id)
    assert status.counts["failed"] == 10 and status.counts["accepted"] == 20
    [problem] = status.problems
    assert problem["state"] == "failed" and "scripted 400" in problem["error"]
    assert stub.statuses[400] == 1  # not retried blindly


def test_a_refused_key_halts_the_send_and_resume_finishes_it_once(store, settings, week):
    store.add_subscribers("weekly", readers(30, [None]))
    settings = settings.model_copy(update={"batch_size": 10})
    with SendGridStub(Behaviour(script=[202, 401])) as stub:
        plan = prepare_issue(store, settings, "weekly")
        outcome = send_inline(store, settings, sendgrid(stub), plan.issue_id)
        assert outcome == {"accepted": 1, "halted": 1}
        assert sum(stub.statuses.values()) == 2  # nothing after the 401
        ledger = Ledger(store)
        assert "SENDGRID_API_KEY" in ledger.meta(plan.issue_id)["halted"]
        assert ledger.status(plan.issue_id).states == {"accepted": 1, "pending": 2}
        ledger.resume(plan.issue_id)
        send_inline(store, settings, sendgrid(stub), plan.issue_id)
    assert len(stub.recipients) == 30 and not stub.duplicates


def test_rate_limits_and_server_errors_are_retried_until_everyone_has_it_once(store, settings, week):
    store.add_subscribers("weekly", readers(200, CHOICES))
    settings = settings.model_copy(update={"batch_size": 10, "send_retry_base": 0.01})
    with SendGridStub(Behaviour(rate_429=0.3, rate_500=0.1, reset_in=0.01)) as stub:
        plan = prepare_issue(store, settings, "weekly")
        send_inline(store, settings, sendgrid(stub), plan.issue_id)
    assert stub.statuses[429] and stub.statuses[500]
    assert len(stub.recipients) == 200 and not stub.duplicates


def test_a_redelivered_batch_in_flight_is_left_unconfirmed_not_resent(store, settings, week):
    store.add_subscribers("weekly", readers(5, [None]))
    plan = prepare_issue(store, settings, "weekly")
    ledger = Ledger(store)
    [batch] = plan.batches
    assert ledger.claim(plan.issue_id, batch, "dead-worker") == "claimed"  # ... and then it died
    with SendGridStub() as stub:
        assert send_batch(store, settings, sendgrid(stub), plan.issue_id, batch) == "unconfirmed"
        assert not stub.recipients
        status = ledger.status(plan.issue_id)
        assert status.states == {"unconfirmed": 1} and status.finished
        assert ledger.resolve(plan.issue_id, batch, resend=True) == "resend"
        send_inline(store, settings, sendgrid(stub), plan.issue_id)
    assert len(stub.recipients) == 5


def test_claiming_and_reading_in_one_step_decides_as_the_claim_alone(store, settings, week):
    store.add_subscribers("weekly", readers(5, [None]))
    plan = prepare_issue(store, settings, "weekly")
    ledger = Ledger(store)
    [batch] = plan.batches
    segments, subs = ledger.segments(plan.issue_id, batch), store.key("list", "weekly", "subs")
    # A frozen copy that cannot be read (a wrong type): the script fails before it claims.
    copy = ledger.k(plan.issue_id, "rcpt", segments[0][0])
    frozen = store.r.dump(copy)
    store.r.delete(copy)
    store.r.set(copy, "not a zset")
    with pytest.raises(Exception, match="WRONGTYPE"):
        ledger.claim_and_fetch(plan.issue_id, batch, "T1", segments, subs)
    assert ledger.batch_state(plan.issue_id, batch) == "pending"
    store.r.delete(copy)
    store.r.restore(copy, 0, frozen)
    outcome, emails, records = ledger.claim_and_fetch(plan.issue_id, batch, "T1", segments, subs)
    assert outcome == "claimed" and len(emails) == 5 and all(r and "|active|" in r for r in records)
    assert store.r.get(ledger.k(plan.issue_id, "lease", batch)) == "T1"
    assert ledger.claim_and_fetch(plan.issue_id, batch, "T2", segments, subs) == ("unconfirmed", [], [])
    assert ledger.claim_and_fetch(plan.issue_id, "999999", "T3", segments, subs) == ("missing", [], [])
    ledger.halt(plan.issue_id, "paused")
    assert ledger.claim_and_fetch(plan.issue_id, batch, "T4", segments, subs) == ("halted", [], [])


def test_the_slow_owner_of_an_unconfirmed_batch_can_still_confirm_it(store, settings, week):
    store.add_subscribers("weekly", readers(5, [None]))
    plan = prepare_issue(store, settings, "weekly")
    ledger = Ledger(store)
    [batch] = plan.batches
    ledger.claim(plan.issue_id, batch, "slow")
    assert ledger.claim(plan.issue_id, batch, "redelivered") == "unconfirmed"
    assert ledger.finish(plan.issue_id, batch, "redelivered", "accepted", {}) is False
    assert ledger.finish(plan.issue_id, batch, "slow", "accepted", {"recipients": 5}, accepted=5) is True
    assert ledger.status(plan.issue_id).states == {"accepted": 1}


def test_no_answer_after_sending_is_unconfirmed_not_retried(store, settings, week):
    store.add_subscribers("weekly", readers(5, [None]))
    with SendGridStub(Behaviour(delay=1.0)) as stub:
        plan = prepare_issue(store, settings, "weekly")
        sender = SendGridSender("SG.k", host=stub.url, timeout=0.3)
        assert send_inline(store, settings, sender, plan.issue_id) == {"unconfirmed": 1}
    assert "no answer" in Ledger(store).status(plan.issue_id).problems[0]["error"]


def test_an_unreachable_sendgrid_is_retried_safely(store, settings, week):
    store.add_subscribers("weekly", readers(5, [None]))
    plan = prepare_issue(store, settings, "weekly")
    dead = SendGridSender("SG.k", host="http://127.0.0.1:9", timeout=1)
    with pytest.raises(Exception) as raised:
        send_batch(store, settings, dead, plan.issue_id, plan.batches[0])
    assert type(raised.value).__name__ == "RetryLater"
    assert Ledger(store).status(plan.issue_id).states == {"retry": 1}


def test_readers_whose_topics_have_nothing_this_week_are_not_mailed(store, settings, weekly, topics):
    seed_week(store, ["space"], unmatched=0)
    store.add_subscribers("weekly", [Subscriber(email="m@example.com", topics=["markets"]),
                                     Subscriber(email="s@example.com", topics=["space"])])
    plan = prepare_issue(store, settings, "weekly")
    assert (plan.recipients, plan.no_section) == (1, 1)


def test_an_empty_week_is_refused_with_a_reason(store, settings, weekly):
    with pytest.raises(InvalidInput, match="no articles"):
        prepare_issue(store, settings, "weekly")


def test_the_outbox_writes_one_openable_message_per_reader(store, settings, week):
    store.add_subscribers("weekly", readers(3, [None, ["space"]]))
    plan = prepare_issue(store, settings, "weekly")
    send_inline(store, settings, OutboxSender(settings.outbox_dir), plan.issue_id)
    files = sorted((settings.outbox_dir / plan.issue_id).glob("*.eml"))
    assert [f.name for f in files] == [f"reader{i}@example.com.eml" for i in range(3)]
    msg = email.message_from_bytes(files[1].read_bytes(), policy=default_policy)
    assert msg["To"] == "Reader 1 <reader1@example.com>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    assert plan.rendered.markers.token not in html and "https://digest.example/u/" in html
    assert "https://digest.example/u/" in text
    assert "Space story number 0" in html and "Climate story number 0" not in html


def test_choices_that_come_to_the_same_sections_share_full_batches(store, settings, weekly, topics):
    # no markets story this week: "space" and "space + markets" readers get the same email
    seed_week(store, ["space", "climate"], unmatched=0)
    store.add_subscribers("weekly", readers(25, [["space"], ["space", "markets"], ["climate"]]))
    settings = settings.model_copy(update={"batch_size": 10})
    plan = prepare_issue(store, settings, "weekly")
    ledger = Ledger(store)
    sizes = sorted(len(ledger.members(plan.issue_id, b)) for b in plan.batches)
    assert sizes == [7, 8, 10]  # 17 space-only-variant readers: 10 + 7; 8 climate readers
    with SendGridStub() as stub:
        send_inline(store, settings, sendgrid(stub), plan.issue_id)
    assert len(stub.recipients) == 25 and not stub.duplicates
    for body in stub.requests:
        subjects = {tuple(store.get_subscriber("weekly", p["to"][0]["email"]).topics) for p in body["personalizations"]}
        assert subjects in ({("climate",)}, {("space",), ("markets", "space")}, {("space",)}, {("markets", "space")})


def test_without_an_api_key_mail_goes_to_the_outbox(settings):
    from digest.deliver import make_sender

    assert make_sender(settings).name == "outbox"
    keyed = settings.model_copy(update={"sendgrid_api_key": type(settings.secret_key)("SG.k")})
    assert make_sender(keyed).name == "sendgrid"


def test_a_batch_that_cannot_be_built_is_retried_not_lost(store, settings, week):
    store.add_subscribers("weekly", readers(5, [None]))
    plan = prepare_issue(store, settings, "weekly")
    ledger = Ledger(store)
    rendered = store.r.get(ledger.k(plan.issue_id, "rendered"))
    store.r.delete(ledger.k(plan.issue_id, "rendered"))  # e.g. an operator wiped it mid-send
    from digest.deliver import send as send_module

    send_module._issue.cache_clear()
    with SendGridStub() as stub:
        with pytest.raises(send_module.RetryLater):
            send_batch(store, settings, sendgrid(stub), plan.issue_id, plan.batches[0])
        assert ledger.status(plan.issue_id).states == {"retry": 1}
        store.r.set(ledger.k(plan.issue_id, "rendered"), rendered)
        assert send_inline(store, settings, sendgrid(stub), plan.issue_id) == {"accepted": 1}
    assert len(stub.recipients) == 5


def test_consecutive_issues_share_no_article_and_nothing_new_is_refused(store, settings, week):
    from tests.factories import article, file_as

    store.add_subscribers("weekly", readers(3, [None]))
    first = prepare_issue(store, settings, "weekly")
    sent = {a.id for a in first.content.articles}
    assert sent == {a.id for a in week}
    with pytest.raises(InvalidInput, match="nothing new for list 'weekly' since its last issue"):
        prepare_issue(store, settings, "weekly")
    fresh = [article(100 + n, "space", days_ago=0.1) for n in range(2)]
    for a in fresh:
        store.save_article(a, 86400)
    file_as(store, fresh, "space")
    second = prepare_issue(store, settings, "weekly")
    assert {a.id for a in second.content.articles} == {a.id for a in fresh}  # only what is new
    again = prepare_issue(store, settings, "weekly", again=True)  # a manual resend, on purpose
    assert sent <= {a.id for a in again.content.articles}


def test_a_batch_that_can_never_be_built_fails_at_once_with_the_reason(store, settings, week):
    store.add_subscribers("weekly", readers(3, [None]))
    plan = prepare_issue(store, settings, "weekly")
    # A list saved before from addresses were checked (or edited in Redis by hand).
    raw = store.r.hget(store.key("lists"), "weekly").replace("news@planet.example", "news at planet")
    store.r.hset(store.key("lists"), "weekly", raw)
    from digest.deliver import send as send_module

    send_module._issue.cache_clear()
    with SendGridStub() as stub:
        assert send_batch(store, settings, sendgrid(stub), plan.issue_id, plan.batches[0]) == "failed"
    status = Ledger(store).status(plan.issue_id)
    assert status.states == {"failed": 1} and stub.requests == []
    assert "news at planet" in status.problems[0]["error"]


def test_a_from_address_is_checked_when_it_is_set():
    from pydantic import ValidationError

    from digest.models import DigestList

    with pytest.raises(ValidationError, match="from address 'news at planet' is not valid"):
        DigestList(slug="x", name="X", from_email="news at planet")
    assert DigestList(slug="x", name="X", from_email=" news@Planet.Example ").from_email == "news@planet.example"


def test_outbox_headers_are_plain_rfc_8058_lists_as_in_the_sendgrid_requests(store, settings, week):
    """Mail clients read List-Unsubscribe only as a raw <URI> list: never RFC 2047 encoded-words."""
    from email.policy import compat32

    store.add_subscribers("weekly", readers(2, [None]))
    plan = prepare_issue(store, settings, "weekly")
    with SendGridStub() as stub:
        envelope, _ = build_envelope(store, settings, plan.issue_id, plan.batches[0])
        sendgrid(stub).send(envelope)
    # A subject cut with "…" right where the line folds: the fold must not add a space.
    envelope.subject = "The Weekly Planet: Drought forces river barges to sail half-empty on…"
    OutboxSender(settings.outbox_dir).send(envelope)
    requested = {p["to"][0]["email"]: p["headers"]["List-Unsubscribe"] for p in stub.requests[0]["personalizations"]}
    assert stub.requests[0]["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    for address, header in requested.items():
        raw = (settings.outbox_dir / plan.issue_id / f"{address}.eml").read_bytes()
        for policy in (default_policy, compat32):  # decoded, and as the bytes say
            msg = email.message_from_bytes(raw, policy=policy)
            value = re.sub(r"\r?\n", "", str(msg["List-Unsubscribe"]))
            assert value == header
            assert re.fullmatch(r"<https://digest\.example/u/[\w.-]+>, <mailto:unsubscribe\+weekly@planet\.example"
                                r"\?subject=unsubscribe%20[\w.-]+>", value)
            assert str(msg["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
        subject = email.message_from_bytes(raw, policy=default_policy)["Subject"]
        assert str(subject) == envelope.subject


def test_tracking_is_what_the_settings_say(store, settings, week):
    from pydantic import SecretStr

    from digest.deliver import make_sender

    store.add_subscribers("weekly", readers(2, [None]))
    settings = settings.model_copy(update={"sendgrid_click_tracking": True, "sendgrid_open_tracking": True})
    with SendGridStub() as stub:
        settings = settings.model_copy(update={"sendgrid_api_key": SecretStr("SG.k"), "sendgrid_api_host": stub.url})
        plan = prepare_issue(store, settings, "weekly")
        send_inline(store, settings, make_sender(settings), plan.issue_id)
    assert stub.invalid == [] and stub.requests
    assert stub.requests[0]["tracking_settings"]["click_tracking"]["enable"] is True
    assert stub.requests[0]["tracking_settings"]["open_tracking"]["enable"] is True
