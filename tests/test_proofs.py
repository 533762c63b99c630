"""Test sends ("proofs"): the next issue to an editor's addresses, through the real sender, never counted."""

from __future__ import annotations

import pytest

from digest.deliver.ledger import Ledger
from digest.deliver.proofs import MAX_ADDRESSES, PROOFS_PER_HOUR, send_proof
from digest.deliver.send import prepare_issue
from digest.deliver.sendgrid import SendGridSender
from digest.errors import InvalidInput
from digest.links import preview_token, read_token
from tests.factories import readers, seed_week
from tests.sendgrid_server import SendGridStub


@pytest.fixture
def week(store, weekly):
    seed_week(store, ["climate", "space", "markets"])
    store.add_subscribers("weekly", readers(3, [None]))


def test_a_proof_goes_through_sendgrid_marked_as_a_test_and_is_never_the_issues_send(store, settings, week):
    with SendGridStub() as stub:
        proof = send_proof(store, settings, SendGridSender("SG.k", host=stub.url, timeout=5), "weekly",
                           "Editor@Example.com; second@example.com")
    assert stub.invalid == [] and len(stub.requests) == 1
    body = stub.requests[0]
    assert sorted(p["to"][0]["email"] for p in body["personalizations"]) == ["editor@example.com",
                                                                             "second@example.com"]
    assert body["subject"].startswith("[Test] ") and body["custom_args"]["test"] == "1"
    assert body["custom_args"]["issue"] == proof.proof_id and proof.proof_id.startswith("test-weekly-")
    for p in body["personalizations"]:  # the links stand for no reader: a forwarded proof unsubscribes nobody
        values = set(p["substitutions"].values())
        assert preview_token(settings, "weekly") in values
        for value in values:  # no value is a reader's signed token
            with pytest.raises(InvalidInput):
                read_token(settings, value)
    html = body["content"][1]["value"]
    assert "Climate" in html and "reader0@example.com" not in html
    # Nothing counted: no issue in the ledger, and the real issue still has every article.
    assert Ledger(store).issues("weekly") == []
    plan = prepare_issue(store, settings, "weekly")
    assert plan.rendered.subject == body["subject"].removeprefix("[Test] ")


def test_a_proof_of_one_topic_selection_has_only_those_sections(store, settings, week):
    with SendGridStub() as stub:
        send_proof(store, settings, SendGridSender("SG.k", host=stub.url, timeout=5), "weekly",
                   ["e@example.com"], topics={"space"})
    text = stub.requests[0]["content"][0]["value"]
    assert "Space" in text and "Climate" not in text


def test_bad_addresses_suppressed_ones_and_too_many_are_refused_by_name(store, settings, week):
    class Refuse:
        name = "refuse"

        def send(self, envelope):  # pragma: no cover - must never be reached
            raise AssertionError("nothing may be sent")

    with pytest.raises(InvalidInput, match="not-an-address"):
        send_proof(store, settings, Refuse(), "weekly", "ok@example.com, not-an-address")
    with pytest.raises(InvalidInput, match="at least one"):
        send_proof(store, settings, Refuse(), "weekly", " , ")
    many = ",".join(f"e{i}@example.com" for i in range(MAX_ADDRESSES + 1))
    with pytest.raises(InvalidInput, match=f"at most {MAX_ADDRESSES}"):
        send_proof(store, settings, Refuse(), "weekly", many)
    store.suppress("gone@example.com", "complained")
    with pytest.raises(InvalidInput, match="gone@example.com: suppressed"):
        send_proof(store, settings, Refuse(), "weekly", "ok@example.com, gone@example.com")


def test_proofs_of_one_list_are_rate_limited(store, settings, week):
    class Count:
        name = "count"
        sent = 0

        def send(self, envelope):
            Count.sent += 1

    for _ in range(PROOFS_PER_HOUR):
        send_proof(store, settings, Count(), "weekly", "e@example.com")
    with pytest.raises(InvalidInput, match="tests an hour"):
        send_proof(store, settings, Count(), "weekly", "e@example.com")
    assert Count.sent == PROOFS_PER_HOUR


def test_an_empty_issue_has_no_proof(store, settings, weekly):
    with pytest.raises(InvalidInput, match="no articles"):
        send_proof(store, settings, None, "weekly", "e@example.com")  # type: ignore[arg-type]


def test_the_command_sends_a_proof_to_the_outbox(run, store, settings, week):
    done = run("issues", "test", "weekly", "--to", "ed@example.com", "--topics", "space")
    assert done.returncode == 0, done.stderr
    assert "sent to ed@example.com" in done.stdout
    files = list(settings.outbox_dir.glob("test-weekly-*/ed@example.com.eml"))
    assert len(files) == 1 and "Subject: [Test] " in files[0].read_text()
    refused = run("issues", "test", "weekly", "--to", "nobody")
    assert refused.returncode != 0 and "nobody" in refused.stderr
