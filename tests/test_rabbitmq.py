"""RabbitMQ as the broker, Redis still the store: the end-to-end sends of test_e2e.py again.

Skipped when no broker answers on 127.0.0.1:5672 (.ci/run starts Debian's rabbitmq-server).
Each run gets a vhost of its own (made with rabbitmqctl), as each installation should:
queue names are the same everywhere, so a shared vhost would let one run take another's tasks.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid

import pytest

from digest.ops.queues import broker_transport_options, check_broker
from tests.factories import readers, seed_week
from tests.sendgrid_server import Behaviour, SendGridStub
from tests.test_e2e import CHOICES, feeds_to_inboxes, send_through_workers, workers_killed_mid_send

pytestmark = pytest.mark.slow

HOST, PORT = "127.0.0.1", 5672


def _rabbitmqctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60)


def own_vhost():  # type: ignore[no-untyped-def]
    """A vhost of this run's own on the local RabbitMQ (skips when there is none), deleted after."""
    try:
        socket.create_connection((HOST, PORT), timeout=2).close()
    except OSError:
        pytest.skip(f"no AMQP broker answers on {HOST}:{PORT} (.ci/run installs and starts rabbitmq-server)")
    if not shutil.which("rabbitmqctl"):
        pytest.skip("a broker answers on 5672 but rabbitmqctl is missing: no vhost of this run's own can be made")
    vhost = f"digest-test-{uuid.uuid4().hex[:10]}"
    made = _rabbitmqctl("add_vhost", vhost)
    if made.returncode != 0:
        pytest.skip(f"rabbitmqctl add_vhost failed: {made.stderr.strip()[:200]}")
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    yield f"amqp://guest:guest@{HOST}:{PORT}/{vhost}"
    _rabbitmqctl("delete_vhost", vhost)  # and every queue in it


amqp_url = pytest.fixture(scope="module", name="amqp_url")(own_vhost)
quorum_url = pytest.fixture(scope="module", name="quorum_url")(own_vhost)  # a queue's type is fixed once declared


def with_broker(settings, url: str, **update):  # type: ignore[no-untyped-def]
    copy = settings.model_copy(update={"celery_broker_url": url, **update})
    copy.__dict__.pop("broker_url", None)  # a cached property: model_copy would carry the old one along
    return copy


@pytest.fixture
def amqp(settings, amqp_url):  # type: ignore[no-untyped-def]
    return with_broker(settings, amqp_url)


def test_redis_only_transport_options_are_not_given_to_rabbitmq(amqp):
    assert broker_transport_options(amqp) == {}  # no visibility_timeout, no global_keyprefix
    assert check_broker(amqp) == []  # the longest hold (1,230 s) is under RabbitMQ's consumer_timeout
    long_fetches = amqp.model_copy(update={"fetch_deadline": 1500.0})
    assert "consumer_timeout" in check_broker(long_fetches)[0]


def test_feeds_to_inboxes_with_rabbitmq_as_the_broker(store, amqp, tmp_path):
    with SendGridStub() as stub:
        feeds_to_inboxes(store, amqp, stub, tmp_path)


def test_twenty_thousand_readers_through_rabbitmq_exactly_once(store, amqp, topics, weekly, tmp_path):
    seed_week(store, ["climate", "space", "markets"])
    store.add_subscribers("weekly", readers(20_000, CHOICES))
    with SendGridStub() as stub:
        plan, ledger = send_through_workers(store, amqp, tmp_path, stub)
    assert len(stub.recipients) == 20_000 and not stub.duplicates
    assert ledger.status(plan.issue_id).counts["accepted"] == 20_000


def test_workers_killed_mid_send_through_rabbitmq_lose_no_one_and_mail_no_one_twice(
        store, amqp, topics, weekly, tmp_path):
    workers_killed_mid_send(store, amqp, tmp_path)  # RabbitMQ redelivers at once: no visibility timeout


def test_quorum_queues_with_retries_still_end_exactly_once(store, settings, quorum_url, topics, weekly, tmp_path):
    quorum = with_broker(settings, quorum_url, celery_queue_type="quorum", batch_size=100)
    seed_week(store, ["climate", "space", "markets"])
    store.add_subscribers("weekly", readers(3000, CHOICES))
    # 429s and 500s: retried with a countdown, which quorum queues carry by native delayed delivery
    with SendGridStub(Behaviour(rate_429=0.3, rate_500=0.1, reset_in=0.05), validate=False) as stub:
        send_through_workers(store, quorum, tmp_path, stub)
    assert stub.statuses[429] > 5 and stub.statuses[500] > 1
    assert len(stub.recipients) == 3000 and not stub.duplicates
    queues = _rabbitmqctl("list_queues", "-p", quorum_url.rsplit("/", 1)[1], "name", "type").stdout
    assert {"send", "quorum"} <= set(next(line.split() for line in queues.splitlines() if line.startswith("send\t")))
