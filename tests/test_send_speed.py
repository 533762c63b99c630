"""The send path's fast paths give exactly what the plain code gave (bench/send.py measures the speed).

Tokens mailed before (HMAC-SHA256, byte-identical to the ones made before HMAC was
spelt out) still verify beside the BLAKE2b ones made now, and nothing forged does;
the greeting's shortcut matches textwrap.fill, the records split in place read as
Record.unpack does, orjson's body is the JSON that json.dumps made, and the cycle
collector is back on after every batch.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import html
import json
import random
import textwrap

import orjson
import pytest

from digest.config import load_settings
from digest.deliver.send import build_envelope, prepare_issue, send_batch
from digest.deliver.sendgrid import SendGridSender, request_body
from digest.errors import InvalidInput
from digest.links import TokenSigner, make_confirm_token, read_confirm_token, read_token
from digest.models import Subscriber
from digest.render.issue import TEXT_WIDTH, fill_text, personalize
from digest.store import Record
from tests.factories import seed_week
from tests.sendgrid_server import SendGridStub

SECRET = "a-fixed-secret-for-the-token-regression-test"
# Made by digest/links.py as it was before this change (hmac.new(...).copy() per token,
# base64.urlsafe_b64encode), with SECRET: already in readers' inboxes, so they must not change.
TOKENS_MADE_BEFORE = {
    ("weekly", "reader@example.com"): "d2Vla2x5CnJlYWRlckBleGFtcGxlLmNvbQ.jhvV78IhyQGiFBAlSvVMCQ",
    ("bench", "Zoë.Ü+tag@exämple.org"): "YmVuY2gKWm_Dqy7DnCt0YWdAZXjDpG1wbGUub3Jn.gqz67bUZKtNl5KTp6MQ9mg",
    ("x", "a@b.c"): "eAphQGIuYw.6SUhNDfA_hKh8RslcNO5TA",
}
CONFIRM_MADE_BEFORE = "d2Vla2x5CmFAYi5jCjE3MDAwMDAwMDAKbm9uY2Ux.H0NalbUtidYAZIJAn26fQg"


@pytest.fixture
def fixed():  # type: ignore[no-untyped-def]
    return load_settings(secret_key=SECRET, redis_url="redis://127.0.0.1:1/0", base_url="https://digest.example")


def test_tokens_mailed_before_blake2b_still_verify_and_are_made_again_byte_for_byte(fixed):
    signer = TokenSigner(fixed)
    for (list_slug, email), before in TOKENS_MADE_BEFORE.items():
        assert read_token(fixed, before) == (list_slug, email)  # links already in readers' inboxes
        assert signer.sign_fields(list_slug, email) == before
        now = signer.sign(list_slug, email)
        assert now != before and now.split(".")[0] == before.split(".")[0]  # the same layout, a new tag
        assert read_token(fixed, now) == (list_slug, email)
    assert TokenSigner(fixed, "confirm").sign_fields("weekly", "a@b.c", "1700000000", "nonce1") == CONFIRM_MADE_BEFORE
    with pytest.raises(Exception, match="expired"):  # genuine (the signature is checked first), only too old
        read_confirm_token(fixed, CONFIRM_MADE_BEFORE)


def test_tags_are_keyed_blake2b_and_the_old_ones_hmac_sha256_for_any_address(fixed):
    hmac_key = hashlib.sha256(b"digest.subscriber\0" + SECRET.encode()).digest()
    b2_key = hashlib.sha256(b"digest.blake2b.subscriber\0" + SECRET.encode()).digest()
    rng = random.Random(5)
    for _ in range(2000):
        email = "".join(rng.choice("abcé+.@-_üZ0\u3000") for _ in range(rng.randint(1, 60)))
        token = TokenSigner(fixed).sign("weekly", email)
        body, tag = token.split(".")
        payload = f"weekly\n{email}".encode()
        expected = hashlib.blake2b(payload, digest_size=16, key=b2_key, person=b"digest-token").digest()
        assert tag == _b64(expected) and body == _b64(payload)
        assert read_token(fixed, token) == ("weekly", email)
        old = TokenSigner(fixed).sign_fields("weekly", email)
        assert old.split(".")[1] == _b64(hmac.new(hmac_key, payload, hashlib.sha256).digest()[:16])
        assert read_token(fixed, old) == ("weekly", email)
    confirm = make_confirm_token(fixed, "weekly", "a@b.c", __import__("datetime").datetime(2999, 1, 1), "n")
    assert read_confirm_token(fixed, confirm).email == "a@b.c"


def test_a_forged_or_borrowed_tag_is_refused_whichever_kind(fixed):
    signer = TokenSigner(fixed)
    for make in (signer.sign, signer.sign_fields):
        good = make("weekly", "ann@example.com")
        body, tag = good.split(".")
        other_list = make("daily", "ann@example.com")
        other_reader = make("weekly", "bob@example.com")
        forged = [
            f"{other_list.split('.')[0]}.{tag}",  # this tag on another list's payload
            f"{body}.{other_list.split('.')[1]}",  # another list's tag on this payload
            f"{body}.{other_reader.split('.')[1]}",  # another reader's tag
            f"{body}.{tag[:-1]}{'A' if tag[-1] != 'A' else 'B'}",  # one character changed
            f"{body}.{_b64(bytes(16))}",
        ]
        for token in forged:
            with pytest.raises(InvalidInput):
                read_token(fixed, token)
        assert read_token(fixed, other_list) == ("daily", "ann@example.com")
        for purpose in ("preview", "confirm"):  # a tag made for one purpose is good for no other
            with pytest.raises(InvalidInput):
                TokenSigner(fixed, purpose).read(good)
    other_secret = load_settings(secret_key=SECRET + "x", redis_url="redis://127.0.0.1:1/0")
    with pytest.raises(InvalidInput):
        read_token(other_secret, signer.sign("weekly", "ann@example.com"))
    # A confirmation link stays HMAC-only: a BLAKE2b tag over its fields is refused.
    fields = b"weekly\na@b.c\n32503680000\nn"
    b2 = hashlib.blake2b(fields, digest_size=16, person=b"digest-token",
                         key=hashlib.sha256(b"digest.blake2b.confirm\0" + SECRET.encode()).digest()).digest()
    with pytest.raises(InvalidInput):
        read_confirm_token(fixed, f"{_b64(fields)}.{_b64(b2)}")


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize("text", [
    "Hello Ann, here is your week.", "", " ", "Hello ", " Hello", "a  b", "a\tb", "a\nb", "a\u3000b", "a\u00a0",
    "x" * TEXT_WIDTH, "x" * (TEXT_WIDTH + 1), "word " * 20, "Jean-Luc-" * 9, "\u3000", "Hello\u200b",
])
def test_the_greeting_shortcut_is_textwrap_fill(text):
    assert fill_text(text) == textwrap.fill(text, TEXT_WIDTH)


def test_the_greeting_shortcut_is_textwrap_fill_for_random_text():
    rng = random.Random(3)
    pieces = ["a", "é", " ", "  ", "-", ".", "\t", "\n", "\r", "\x0b", "\u00a0", "\u3000", "x" * 30, "Reader", "—"]
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert fill_text(text) == textwrap.fill(text, TEXT_WIDTH), repr(text)


def test_each_reader_gets_their_own_name_escaped_once_and_their_own_links(store, settings, weekly, topics):
    """Names with "|" (the record's separator), HTML specials and odd spaces, through build_envelope."""
    seed_week(store, ["climate", "space", "markets"])
    names = ["Ann|Bee", 'Tom & "Jerry" <b>', "O'Brien", "  Zoë   Ü  ", "", "Plain Name"]
    store.add_subscribers("weekly", [Subscriber(email=f"r{i}@example.com", name=n) for i, n in enumerate(names)])
    plan = prepare_issue(store, settings, "weekly")
    envelope, suppressed = build_envelope(store, settings, plan.issue_id, plan.batches[0])
    markers = plan.rendered.markers
    got = {r.email: r for r in envelope.recipients}
    assert suppressed == 0 and len(got) == len(names)
    for i in range(len(names)):
        rcpt = got[f"r{i}@example.com"]
        raw = store.r.hget(store.key("list", "weekly", "subs"), rcpt.email)
        assert rcpt.name == Record.unpack(raw).name  # the in-place split reads what Record.unpack reads
        greeting = plan.rendered.greeting(rcpt.name)
        assert rcpt.substitutions[markers.greeting_html] == html.escape(greeting, quote=True)
        assert rcpt.substitutions[markers.greeting_text] == textwrap.fill(greeting, TEXT_WIDTH)
        token = rcpt.substitutions[markers.token]
        assert read_token(settings, token) == ("weekly", rcpt.email)
        assert rcpt.headers["List-Unsubscribe"].startswith(f"<https://digest.example/u/{token}>, <mailto:")
    assert got["r1@example.com"].substitutions[markers.greeting_html].count("&amp;") == 1


def test_the_greeting_shortcut_gives_what_the_checks_give(store, settings, weekly, topics):
    seed_week(store, ["climate", "space", "markets"])
    store.add_subscribers("weekly", [Subscriber(email="r@example.com")])
    rendered = prepare_issue(store, settings, "weekly").rendered
    rng = random.Random(11)
    pieces = ["Ann", "é", " ", "  ", "&", "<", '"', "'", "\t", "\n", "\u00a0", "\u3000", "x" * 30, "Zoë", "|", "%"]
    wordings = [rendered.wording, *({**rendered.wording, "greeting": g}
                                    for g in ("%(name)s", "Hi %(name)s & co", "100%% %(name)s", " Hi %(name)s "))]
    for wording in wordings:
        rendered.wording = wording
        greet = rendered.greeter()
        for _ in range(5000):
            name = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
            values = rendered.reader_values("tok", name)
            assert greet(name) == (values[rendered.markers.greeting_html], values[rendered.markers.greeting_text])


def test_a_batch_whose_greetings_read_the_same_in_both_parts_sends_one_greeting(store, settings, weekly, topics):
    seed_week(store, ["climate", "space", "markets"])
    names = ["Ann", "", "Zoë Ü", "x" * 40]
    store.add_subscribers("weekly", [Subscriber(email=f"r{i}@example.com", name=n) for i, n in enumerate(names)])
    plan = prepare_issue(store, settings, "weekly")
    markers = plan.rendered.markers
    plain, _ = build_envelope(store, settings, plan.issue_id, plan.batches[0])
    assert markers.greeting_text not in plain.text and markers.greeting_html in plain.text
    assert all(set(r.substitutions) == {markers.token, markers.greeting_html} for r in plain.recipients)
    store.add_subscribers("weekly", [Subscriber(email="r9@example.com", name="Tom & Jerry " + "y" * 60)])
    plan2 = prepare_issue(store, settings, "weekly", again=True)
    mixed, _ = build_envelope(store, settings, plan2.issue_id, plan2.batches[0])
    markers2 = plan2.rendered.markers
    assert markers2.greeting_text in mixed.text and markers2.greeting_html not in mixed.text
    assert all(len(r.substitutions) == 3 for r in mixed.recipients)
    for envelope, rendered in ((plain, plan.rendered), (mixed, plan2.rendered)):
        for rcpt in envelope.recipients:  # what each reader reads is what the three placeholders gave
            values = rendered.reader_values(rcpt.substitutions[rendered.markers.token], rcpt.name)
            assert personalize(envelope.text, rcpt.substitutions) == personalize(
                rendered.assemble(None)[1], values).replace("\n\n\n", "\n\n")


def test_orjson_body_is_the_json_the_standard_encoder_made(store, settings, weekly, topics):
    seed_week(store, ["climate", "space", "markets"])
    odd = 'Zoë "Q" \\ </script> \u2028 \x01 \U0001F600'
    store.add_subscribers("weekly", [Subscriber(email="r@example.com", name=odd)])
    plan = prepare_issue(store, settings, "weekly")
    envelope, _ = build_envelope(store, settings, plan.issue_id, plan.batches[0])
    body = request_body(envelope)
    assert json.loads(orjson.dumps(body)) == body == json.loads(json.dumps(body, ensure_ascii=False))
    with SendGridStub() as stub:
        SendGridSender("SG.k", host=stub.url, timeout=5).send(envelope)
    assert stub.requests == [body]  # what SendGrid receives parses to the same request


def test_the_cycle_collector_is_back_on_after_a_batch_and_left_off_if_it_was(store, settings, weekly, topics):
    seed_week(store, ["climate", "space", "markets"])
    store.add_subscribers("weekly", [Subscriber(email=f"r{i}@example.com") for i in range(3)])
    plan = prepare_issue(store, settings, "weekly")
    with SendGridStub() as stub:
        sender = SendGridSender("SG.k", host=stub.url, timeout=5)
        assert gc.isenabled()
        assert send_batch(store, settings, sender, plan.issue_id, plan.batches[0]) == "accepted"
        assert gc.isenabled()
        gc.disable()
        try:
            plan2 = prepare_issue(store, settings, "weekly", again=True)
            send_batch(store, settings, sender, plan2.issue_id, plan2.batches[0])
            assert not gc.isenabled()  # whoever turned it off keeps it off
        finally:
            gc.enable()


def test_the_cycle_collector_is_back_on_when_building_a_batch_fails(store, settings, weekly, topics):
    seed_week(store, ["climate", "space", "markets"])
    store.add_subscribers("weekly", [Subscriber(email="r@example.com")])
    plan = prepare_issue(store, settings, "weekly")
    store.r.delete(store.key("issue", plan.issue_id, "rendered"))  # building now fails (NotFound)
    from digest.deliver.send import RetryLater, _issue

    _issue.cache_clear()
    with pytest.raises(RetryLater):
        send_batch(store, settings, SendGridSender("SG.k", host="http://127.0.0.1:9", timeout=1),
                   plan.issue_id, plan.batches[0])
    assert gc.isenabled()
