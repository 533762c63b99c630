"""A list's window: which articles it holds, one article of each page, and which ones went out before.

Each feed keeps its own article of a page (store/articles.py), so that no feed can
take another's article away from a list or write over it. A list that follows
several feeds carrying one page shows it once (`one_per_page`), and an issue
records what it carried by id, page and text (`issued_keys`), so nothing sent comes
back under another feed, another spelling of its URL, or the id it had before ids
were per feed (`sent_before`). digest.issue builds the next issue from this.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from digest.models import Article, DigestList
from digest.store import Store


def window_articles(store: Store, digest_list: DigestList, now: datetime) -> list[Article]:
    """The articles of the list's feeds in its window, newest first, sent already or not.

    A page that several of the list's feeds carry is there once (each feed keeps its
    own article of a page, store/articles.py): see `one_per_page`.
    """
    start = now - timedelta(days=digest_list.window_days)
    feeds = digest_list.feeds
    return one_per_page([a for a in store.articles_between(start, now) if not feeds or a.feed_id in feeds],
                        lambda: {f.id: f.url for f in store.feeds()})


def one_per_page(articles: list[Article], feed_urls: Callable[[], dict[str, str]] = dict) -> list[Article]:
    """`articles` (in their order) with one article of each page: the publisher's own, else the first collected.

    The publisher's own: the article of a feed on the page's site (`on_its_site`),
    so a copycat or an aggregator collected first does not put its title and words
    over the publisher's. `feed_urls` (feed id -> URL) is read only when a page has copies.
    """
    by_page: dict[str, list[Article]] = {}
    for article in articles:
        if article.url:
            by_page.setdefault(article.page_id, []).append(article)
    shared = [copies for copies in by_page.values() if len(copies) > 1]
    if not shared:
        return articles
    urls = feed_urls()
    drop: set[str] = set()
    for copies in shared:
        kept = min(copies, key=lambda a: (not on_its_site(urls.get(a.feed_id, ""), a.url), a.collected_at, a.id))
        drop.update(a.id for a in copies if a is not kept)
    return [a for a in articles if a.id not in drop]


def on_its_site(feed_url: str, page_url: str) -> bool:
    """Is the page on the feed's own site: the same host, or one inside the other ("www." aside)?

    Only ever a name and its subdomains, never two names sharing a suffix (no
    public-suffix guess): a stranger's feed cannot pass for a site it is not under.
    """
    feed_host, page_host = _site(feed_url), _site(page_url)
    if not feed_host or not page_host:
        return False
    return feed_host == page_host or page_host.endswith("." + feed_host) or feed_host.endswith("." + page_host)


def _site(url: str) -> str:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


def sent_before(store: Store, list_slug: str, articles: list[Article]) -> set[str]:
    """The ids of `articles` an earlier issue of the list carried: the article itself, its page or its text.

    By page too, so a page already sent does not come back under another of the
    list's feeds, nor under the id it had before ids were per feed (Article.page_id);
    by text (title and text, as content_hash folds them), so another feed's copy of a
    story sent does not come back under a URL spelled otherwise.
    """
    found = store.issued(list_slug, issued_keys(articles))
    return {a.id for a in articles if not found.isdisjoint(_sent_as(a))}


def issued_keys(articles: list[Article]) -> list[str]:
    """What an issue records of the articles it carries (`sent_before` reads them): ids, pages, texts."""
    return list(dict.fromkeys(key for a in articles for key in _sent_as(a)))


def _sent_as(article: Article) -> list[str]:
    keys = [article.id]
    if article.url:
        keys.append(article.page_id)
    if article.content_hash:
        keys.append(f"text:{article.content_hash}")
    return keys
