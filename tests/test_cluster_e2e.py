"""A Redis Cluster as the store: three masters started here from redis-server, the
broker a separate plain Redis (the tests' own; kombu cannot use a cluster).

The store's every operation (tests/test_cluster.py's `exercise`), the command line
from feeds to inboxes, and a 20,000-reader send through real workers, each
reader exactly once. A key pair in two slots would fail here with CROSSSLOT.
"""

from __future__ import annotations

import pytest

from digest.deliver.ledger import Ledger
from digest.store import Store
from tests.factories import readers, seed_week
from tests.redis_cluster import LocalCluster
from tests.sendgrid_server import SendGridStub
from tests.test_cluster import exercise
from tests.test_e2e import CHOICES, feeds_to_inboxes, send_through_workers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> LocalCluster:
    c = LocalCluster(tmp_path_factory.mktemp("cluster")).start()
    yield c
    c.stop()


@pytest.fixture
def settings(settings, cluster):  # type: ignore[no-untyped-def]
    """conftest's settings with the cluster as the store and the tests' plain Redis as the broker."""
    copy = settings.model_copy(update={"redis_url": cluster.url, "celery_broker_url": settings.redis_url})
    copy.__dict__.pop("broker_url", None)  # a cached property: model_copy would carry the old one along
    return copy


def test_the_store_is_spread_over_three_masters(store, settings, weekly, tmp_path):
    assert store.cluster and len(store.r.get_primaries()) == 3
    issue_id = exercise(store, settings, tmp_path)
    status = Ledger(store).status(issue_id)
    assert status.finished and status.counts["accepted"] > 100
    holders = {store.r.get_node_from_key(k).name for k in store.scan_all(f"{store.prefix}:*")}
    assert len(holders) == 3  # tagged families and untagged keys land on every master


def test_feeds_to_inboxes_on_a_redis_cluster(store: Store, settings, tmp_path):  # type: ignore[no-untyped-def]
    with SendGridStub() as stub:
        feeds_to_inboxes(store, settings, stub, tmp_path)


def test_twenty_thousand_readers_on_a_redis_cluster_exactly_once(store, settings, topics, weekly, tmp_path):
    seed_week(store, ["climate", "space", "markets"])
    store.add_subscribers("weekly", readers(20_000, CHOICES))
    with SendGridStub() as stub:
        plan, ledger = send_through_workers(store, settings, tmp_path, stub)
    assert stub.invalid == []
    assert len(stub.recipients) == 20_000 and not stub.duplicates
    assert ledger.status(plan.issue_id).counts["accepted"] == 20_000
