from datetime import datetime, timedelta, timezone

import pytest

from digest.errors import InvalidInput, NotFound
from digest.models import Article, Subscriber
from digest.store import Store


def article(**kw) -> Article:
    base = dict(
        id="a1", feed_id="planet", source="Planet", title="Rocket lands", url="https://x.example/a",
        guid="g1", published=datetime(2026, 11, 20, tzinfo=timezone.utc), content_hash="h1",
    )
    base.update(kw)
    return Article(**base)


def test_article_dedup_by_guid_url_and_content_within_a_feed(store: Store):
    assert store.save_article(article(), 3600) is None
    assert store.save_article(article(id="a2", url="https://x.example/b", content_hash="h2"), 3600) == "a1"
    assert store.save_article(article(id="a3", guid="g3", content_hash="h3"), 3600) == "a1"
    assert store.save_article(article(id="a4", guid="g4", url="https://y.example/"), 3600) == "a1"
    assert store.save_article(article(id="a5", guid="g5", url="https://y.example/5", content_hash="h5"), 3600) is None
    # Another feed's guid, URL and content are its own: the same page from it is its own article.
    assert store.save_article(article(id="o1", feed_id="other"), 3600) is None
    assert store.save_article(article(id="o2", feed_id="other", guid="g2", content_hash="h2"), 3600) == "o1"
    november = (datetime(2026, 11, 1, tzinfo=timezone.utc), datetime(2026, 12, 1, tzinfo=timezone.utc))
    week = store.articles_between(*november)
    assert sorted(a.id for a in week) == ["a1", "a5", "o1"]
    assert store.seen_urls("planet", ["https://x.example/a", "https://y.example/5", "https://z.example/"]) == {
        "https://x.example/a", "https://y.example/5"}
    assert store.seen_urls("third", ["https://x.example/a"]) == set()


def test_expired_articles_drop_out_of_the_window(store: Store):
    store.save_article(article(), 3600)
    store.r.delete(store.key("article", "a1"))
    now = datetime(2026, 11, 21, tzinfo=timezone.utc)
    assert store.articles_between(now - timedelta(days=7), now) == []
    assert store.r.zcard(store.key("articles")) == 0


def test_subscriber_topic_choice_moves_between_selection_sets(store: Store, weekly):
    store.add_subscriber("weekly", Subscriber(email="Alice@Example.COM", name="Alice"))
    store.add_subscriber("weekly", Subscriber(email="bob@example.com", topics=["space", "climate"]))
    assert store.subscriber_count("weekly") == 2
    assert store.get_subscriber("weekly", "alice@example.com").topics is None
    assert store.get_subscriber("weekly", "bob@example.com").topics == ["climate", "space"]
    seq_before = store.r.zscore(store.key("list", "weekly", "sel", store.masks("weekly")[1]), "bob@example.com")
    store.add_subscriber("weekly", Subscriber(email="bob@example.com", topics=["markets"]))
    assert store.get_subscriber("weekly", "bob@example.com").topics == ["markets"]
    # bob keeps his number for life, so a frozen copy never holds him twice
    masks = store.masks("weekly")
    members = {m: store.r.zrange(store.key("list", "weekly", "sel", m), 0, -1, withscores=True) for m in masks}
    bobs = [(m, s) for m, rows in members.items() for e, s in rows if e == "bob@example.com"]
    assert len(bobs) == 1 and bobs[0][1] == seq_before


def test_unsubscribe_leaves_the_selection_but_keeps_the_record(store: Store, weekly):
    store.add_subscriber("weekly", Subscriber(email="carol@example.com"))
    assert store.unsubscribe("weekly", "carol@example.com") is True
    assert store.unsubscribe("weekly", "carol@example.com") is False
    assert store.subscriber_count("weekly") == 0
    assert store.get_subscriber("weekly", "carol@example.com").status == "unsubscribed"


def test_bad_input_names_the_culprit(store: Store, weekly):
    with pytest.raises(InvalidInput, match="not-an-address"):
        store.add_subscriber("weekly", Subscriber(email="not-an-address"))
    with pytest.raises(NotFound, match="'nolist'"):
        store.add_subscriber("nolist", Subscriber(email="a@example.com"))
    with pytest.raises(NotFound, match="'cooking'"):
        store.add_subscriber("weekly", Subscriber(email="a@example.com", topics=["cooking"]))
    assert store.subscriber_count("weekly") == 0


def test_suppression_is_global(store: Store):
    store.suppress("Spam@Example.com", "spamreport")
    assert store.suppressed(["spam@example.com", "ok@example.com"]) == [True, False]


def test_bulk_add_matches_one_by_one(store: Store, weekly):
    rows = [Subscriber(email=f"r{i}@example.com", topics=[["space"], None, ["climate", "markets"]][i % 3])
            for i in range(2500)]
    assert store.add_subscribers("weekly", rows, chunk=1000) == 2500
    # re-adding keeps numbers and moves choices
    store.add_subscribers("weekly", [Subscriber(email="r0@example.com", topics=["markets"])])
    assert store.subscriber_count("weekly") == 2500
    assert store.get_subscriber("weekly", "r0@example.com").topics == ["markets"]
    assert store.get_subscriber("weekly", "r1@example.com").topics is None
    seqs = [s for m in store.masks("weekly")
            for _, s in store.r.zrange(store.key("list", "weekly", "sel", m), 0, -1, withscores=True)]
    assert sorted(seqs) == list(range(1, 2501))


def test_a_list_saved_with_topic_slugs_still_reads(store):
    import json

    from digest.models import DigestList

    old = {"slug": "old", "name": "Old", "from_email": "n@p.example", "topics": ["space", "climate-policy"]}
    store.r.hset(store.key("lists"), "old", json.dumps(old))
    lst = store.get_list("old")
    assert [(t.slug, t.name) for t in lst.topics] == [("space", "Space"), ("climate-policy", "Climate Policy")]
    assert isinstance(lst, DigestList)


def test_adding_or_importing_again_never_resubscribes_and_suppression_is_final(store, weekly):
    store.add_subscriber("weekly", Subscriber(email="gone@example.com", name="Gone"))
    store.unsubscribe("weekly", "gone@example.com")
    store.suppress("blocked@example.com", "spam report")
    store.add_subscribers("weekly", [Subscriber(email="Gone@Example.com", name="Gone again"),
                                     Subscriber(email="blocked@example.com"), Subscriber(email="new@example.com")])
    assert store.get_subscriber("weekly", "gone@example.com").status == "unsubscribed"
    assert store.get_subscriber("weekly", "gone@example.com").name == "Gone again"
    assert store.get_subscriber("weekly", "blocked@example.com").status == "suppressed"
    assert store.subscriber_count("weekly") == 1  # only the new reader is mailed
    store.add_subscribers("weekly", [Subscriber(email="gone@example.com")], reactivate=True)  # they confirm again
    assert store.get_subscriber("weekly", "gone@example.com").status == "active"


def test_a_hashed_suppression_is_a_suppression_and_keeps_no_address(store, weekly):
    import hashlib

    store.add_subscriber("weekly", Subscriber(email="gone@example.com"))
    store.suppress("gone@example.com", "bounce")
    store.suppress_hashed("Gone@Example.com".lower())
    assert store.suppressed(["gone@example.com", "ok@example.com"]) == [True, False]
    assert store.r.hgetall(store.key("suppressed")) == {}  # the plain entry is gone ...
    assert list(store.r.hgetall(store.hashed_suppression_key)) == [hashlib.sha256(b"gone@example.com").hexdigest()]
    store.set_status("weekly", "gone@example.com", "active")  # ... and the hash alone keeps them from mail
    assert store.get_subscriber("weekly", "gone@example.com").status == "suppressed"
    assert store.subscriber_count("weekly") == 0


def test_a_topic_choice_has_one_mask_and_unknown_topics_are_named(store, weekly):
    assert store.choice_mask(weekly, []) == 0
    mask = store.choice_mask(weekly, ["space", "climate"])
    assert mask == store.choice_mask(weekly, ["climate", "space"]) != 0
    assert store.topics_of_mask("weekly", mask) == {"space", "climate"}
    with pytest.raises(NotFound, match="'cooking'"):
        store.choice_mask(weekly, ["cooking"])
