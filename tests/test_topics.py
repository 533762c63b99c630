from datetime import datetime, timezone

from digest.models import Article, Topic
from digest.topics import assign_topics

SPACE = Topic(slug="space", name="Space", keywords=["rocket", "orbit", "mars"])
MARKETS = Topic(slug="markets", name="Markets", keywords=["stocks", "interest rates"])
CLIMATE = Topic(slug="climate", name="Climate", keywords=["emissions", "glacier"])


def art(title: str, text: str = "", categories: list[str] | None = None) -> Article:
    return Article(id="x", feed_id="f", source="s", title=title, url="https://x.example/", guid="g",
                   published=datetime(2026, 11, 22, tzinfo=timezone.utc), summary_text=text,
                   categories=categories or [])


def test_a_title_match_outweighs_body_mentions():
    a = art("Rocket lifts off", "Shares in stocks of the maker rose; stocks rallied.")
    assert assign_topics(a, [SPACE, MARKETS, CLIMATE]) == ["space", "markets"]


def test_one_body_mention_alone_is_not_enough():
    assert assign_topics(art("A quiet week", "Someone mentioned a glacier."), [CLIMATE]) == []


def test_the_feeds_own_category_counts():
    assert assign_topics(art("Launch delayed", categories=["Space"]), [SPACE, MARKETS]) == ["space"]


def test_whole_words_and_accents_and_phrases():
    assert assign_topics(art("Marsupials at the zoo"), [SPACE]) == []
    assert assign_topics(art("Órbita baja: the new orbit race"), [SPACE]) == ["space"]
    assert assign_topics(art("Central bank keeps interest  rates"), [MARKETS]) == ["markets"]


def test_nothing_matches_goes_to_more_news():
    assert assign_topics(art("Orchestra tours the coast"), [SPACE, MARKETS, CLIMATE]) == []
