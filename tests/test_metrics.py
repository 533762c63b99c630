"""/metrics: what collection, sending and webhooks record in Redis, read back by the web process;
queue depths from the broker; the Grafana dashboard asks only for what /metrics exports."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from digest.celery_app import make_celery
from digest.collect.collector import collect_feed
from digest.config import Settings
from digest.deliver.send import prepare_issue, send_inline
from digest.deliver.sendgrid import SendGridSender
from digest.errors import FetchError, TransportError
from digest.events import apply_events
from digest.models import Feed
from digest.ops import metrics
from digest.ops.metrics.exposition import metric_names
from digest.store import Store
from digest.store.metrics import MetricsStore, labels
from digest.web import create_app
from tests.factories import readers, seed_week
from tests.sendgrid_server import Behaviour, SendGridStub
from tests.test_collect import RSS

DASHBOARD = Path(__file__).resolve().parents[1] / "digest" / "ops" / "metrics" / "grafana-dashboard.json"
TOKEN = "m" * 24


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.data
    assert response.content_type.startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for s in family.samples}


def value(samples, name, **labels_) -> float | None:
    return samples.get((name, tuple(sorted(labels_.items()))))


@pytest.fixture
def exercised(store: Store, settings: Settings, server, weekly, topics):
    """Everything that records: feeds collected (one good, one 404, one refused), a send through a
    SendGrid that answers 500 once, and a webhook batch."""
    store.add_feed(Feed(id="good", url=server.route("/rss", RSS)))
    store.add_feed(Feed(id="missing", url=server.route("/missing", status=404)))
    store.add_feed(Feed(id="inside", url="http://10.0.0.1/feed.xml"))  # not public: refused, never fetched
    results = {f: collect_feed(store, settings, f) for f in ("good", "missing", "inside")}
    assert results["good"].new == 2 and results["missing"].error and results["inside"].error

    seed_week(store, ["climate", "space", "markets"])
    store.add_subscribers("weekly", readers(30, [None]))
    settings = settings.model_copy(update={"batch_size": 10, "send_retry_base": 0.01})
    with SendGridStub(Behaviour(script=[500])) as stub:
        plan = prepare_issue(store, settings, "weekly")
        sent = send_inline(store, settings, SendGridSender("SG.test-key", host=stub.url, timeout=5), plan.issue_id)
    assert sent == {"accepted": 3} and len(stub.recipients) == 30

    events = [{"event": "delivered", "email": "reader1@example.com", "sg_event_id": f"d{i}",
               "list": "weekly", "issue": plan.issue_id} for i in range(2)]
    events += [{"event": "bounce", "email": "reader2@example.com", "sg_event_id": "b1", "type": "bounce"},
               {"event": "x" * 5000, "email": "reader3@example.com"}, "not an event"]
    apply_events(store, settings, json.dumps(events))
    return plan


def test_what_workers_record_reaches_the_web_process(store, settings, exercised):
    before = time.time()
    s = scrape(create_app(settings).test_client())
    assert value(s, "digest_articles_collected_total", outcome="new") == 2
    assert value(s, "digest_feed_collections_total", result="ok") == 1
    assert value(s, "digest_feed_collections_total", result="error") == 2
    assert value(s, "digest_feed_errors_total", kind="http_4xx") == 1
    assert value(s, "digest_feed_errors_total", kind="refused") == 1
    assert before - 60 < value(s, "digest_last_collect_success_timestamp_seconds") <= time.time()
    assert value(s, "digest_emails_handed_over_total", list="weekly", sender="sendgrid") == 30
    assert value(s, "digest_sendgrid_responses_total", status="500") == 1
    assert value(s, "digest_sendgrid_responses_total", status="202") == 3
    assert value(s, "digest_batch_send_seconds_count", sender="sendgrid") == 4
    assert value(s, "digest_batch_send_seconds_bucket", sender="sendgrid", le="+Inf") == 4
    assert 0 < value(s, "digest_batch_send_seconds_sum", sender="sendgrid") < 20
    assert before - 60 < value(s, "digest_last_send_success_timestamp_seconds", list="weekly") <= time.time()
    assert value(s, "digest_webhook_events_total", type="delivered") == 2
    assert value(s, "digest_webhook_events_total", type="bounce") == 1
    assert value(s, "digest_webhook_events_total", type="other") == 2  # a 5,000-character type is not a label
    assert value(s, "digest_store_up") == 1 and value(s, "digest_broker_up") == 1
    # nothing per address or per issue: the only label values are lists, statuses and kinds
    text = str(s)
    assert "@" not in text and exercised.issue_id not in text


def test_the_dashboard_asks_only_for_what_metrics_exports(settings, exercised, store):
    store.worker_heartbeat("w@h", ["send"], time.time())
    store.beat_seen("ticked", time.time())
    exported = {name for name, _ in scrape(create_app(settings).test_client())}
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["schemaVersion"] >= 30 and dashboard["panels"]
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert all(p["datasource"]["type"] == "prometheus" and p["gridPos"]["w"] for p in dashboard["panels"])
    asked = {name for e in exprs for name in re.findall(r"\bdigest_[a-z0-9_]+", e)}
    assert asked, exprs
    assert asked <= exported, asked - exported
    families = {re.sub(r"_(bucket|sum|count|total)$", "", n) for n in asked}
    assert families == {re.sub(r"_total$", "", n) for n in metric_names()}  # and every metric has a panel


def test_queue_depths_come_from_the_broker(settings: Settings, store: Store):
    app = make_celery(settings)
    for i in range(3):
        app.send_task("digest.send_batch", args=["issue", f"{i:06d}"])  # routed to `send`
    app.send_task("digest.collect", args=["planet"])
    s = scrape(create_app(settings).test_client())
    assert value(s, "digest_queue_depth", queue="send") == 3
    assert value(s, "digest_queue_depth", queue="collect") == 1
    assert value(s, "digest_queue_depth", queue="build") == 0


def test_a_broker_that_does_not_answer_leaves_the_rest_served(settings: Settings):
    dead = settings.model_copy(update={"celery_broker_url": "redis://127.0.0.1:1/0"})
    s = scrape(create_app(dead).test_client())
    assert value(s, "digest_broker_up") == 0 and value(s, "digest_store_up") == 1
    assert not [k for k in s if k[0] == "digest_queue_depth"]


def test_metrics_token_is_required_when_set(settings: Settings):
    client = create_app(settings.model_copy(update={"metrics_token": SecretStr(TOKEN)})).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer " + "n" * 24}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer " + TOKEN[:-1]}).status_code == 401
    scrape(client, Authorization=f"Bearer {TOKEN}")


def test_counting_never_fails_the_work_it_counts():
    """A batch SendGrid accepted must reach the ledger even when the metrics write fails."""
    nowhere = MetricsStore(redis.Redis(port=1, socket_connect_timeout=0.5), "t")
    with metrics.observe_send(nowhere, "sendgrid", "weekly", 10):
        pass
    with pytest.raises(TransportError):  # the sender's error still reaches the caller
        with metrics.observe_send(nowhere, "sendgrid", "weekly", 10):
            raise TransportError("SendGrid error 500", status=500)


def test_feed_errors_fall_into_few_kinds():
    kind = metrics.feed_error_kind
    assert kind(FetchError("u: HTTP 404 Not Found", status=404)) == "http_4xx"
    assert kind(FetchError("u: HTTP 503", status=503)) == "http_5xx"
    assert kind(FetchError("u: HTTP 410 Gone", status=410)) == "gone"
    assert kind(FetchError("u: took longer than 60 s (timeout)")) == "timeout"
    assert kind(FetchError("u: more than the 5242880-byte cap")) == "too_large"
    assert kind(FetchError("u: ConnectError: [Errno 111] Connection refused")) == "network"
    assert kind(ValueError("boom")) == "unexpected"
    assert set(map(kind, [FetchError("u: more than 5 redirects")])) <= set(metrics.FEED_ERROR_KINDS)


def test_label_values_are_bounded_tokens():
    assert labels(list="we|ek=ly,\n" + "x" * 500) == (("list", "we_ek_ly__" + "x" * 54),)
