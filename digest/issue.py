"""One issue of a list: which articles, in which sections, in which order.

`build_issue` is pure selection (no rendering); `next_issue` adds rendering, and
is what both the editors' preview and the sender call, so the preview is exactly
what goes out.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from digest.config import Settings
from digest.content import IssueContent, Section, Story
from digest.links import preview_token
from digest.models import MORE_NEWS, Article, DigestList
from digest.render import RenderedIssue, personalize, render_issue, translations
from digest.store import Store
from digest.topics.filing import file_window
from digest.topics.grouping import group_stories
from digest.window import sent_before, window_articles


def build_issue(
    store: Store, settings: Settings, digest_list: DigestList, now: datetime, more_news_name: str = "More news",
    *, again: bool = False,
) -> IssueContent:
    """The list's window in sections (by primary topic, More news last) of ranked stories.

    Only articles no earlier issue of the list carried, unless `again` (a manual
    resend of what the window holds).
    Editors' edits of the next issue apply (store/drafts.py): articles they left out
    are not in it, the stories they placed come first, their subject, preheader, intro.
    """
    window = timedelta(days=digest_list.window_days)
    articles = window_articles(store, digest_list, now)
    if not again:
        sent = sent_before(store, digest_list.slug, articles)
        articles = [a for a in articles if a.id not in sent]
    edits = store.draft(digest_list.slug)  # what editors changed in this issue (digest/editors/corrections.py)
    # Left out, still collected. By page too: once the article left out has left the window,
    # another feed's article of its page (dated later) would otherwise take its place.
    left_out = {a.page_id for a in store.get_articles(edits.excluded) if a.url}
    articles = [a for a in articles if a.id not in edits.excluded and not (a.url and a.page_id in left_out)]
    filings = file_window(store, settings, digest_list, articles)
    names = digest_list.topic_names(more_news_name)
    buckets: dict[str, list[Article]] = {slug: [] for slug in store.list_topics(digest_list)}
    for article in articles:
        primary = filings[article.id].primary
        buckets[primary if primary in buckets else MORE_NEWS].append(article)
    stories = group_stories(store, digest_list.slug, buckets, now, window, settings.article_ttl_days * 86400)
    cap = digest_list.max_per_section
    sections = {slug: Section(slug, names[slug], in_editors_order(found, edits.order.get(slug))[:cap])
                for slug, found in stories.items()}
    for primary, section in sections.items():
        for story in section.stories:
            for other in filings[story.lead.id].secondary:
                if other in sections and other not in (primary, MORE_NEWS):
                    extra = sections[other].secondary.setdefault(primary, [])
                    if len(extra) < cap:
                        extra.append(story)
    shown = digest_list.model_copy(update={"intro": edits.intro}) if edits.intro else digest_list
    return IssueContent(shown, now, [s for s in sections.values() if s.stories or s.secondary], filings,
                        edits.subject, edits.preheader, edits.rev)


def in_editors_order(stories: list[Story], order: list[str] | None) -> list[Story]:
    """The stories editors placed, in their order, then the others as ranked (sorted is stable)."""
    if not order:
        return stories
    place = {story_id: i for i, story_id in enumerate(order)}
    return sorted(stories, key=lambda s: place.get(s.id, len(place)))


def next_issue(
    store: Store, settings: Settings, list_slug: str, now: datetime | None = None, *, again: bool = False,
) -> tuple[IssueContent, RenderedIssue]:
    """The list's next issue as it stands now: its content, and the content rendered."""
    now = now or datetime.now(timezone.utc)
    digest_list = store.get_list(list_slug)
    more = translations(digest_list.locale).gettext("More news")
    content = build_issue(store, settings, digest_list, now, more_news_name=more, again=again)
    key = content_key(content, settings)
    cached = store.cached("render", list_slug, key)
    if cached is not None:
        rendered = RenderedIssue.from_json(cached)
    else:
        rendered = render_issue(content, settings)
        store.keep("render", list_slug, key, rendered.to_json())
    use_editors_wording(rendered, content)
    return content, rendered


def content_key(content: IssueContent, settings: Settings) -> str:
    """A digest of everything the rendering of `content` depends on: the content itself (every
    article's every field, the sections, the edits), the list, the day in the list's time
    zone (the dateline), the settings the templates read and the templates' files."""
    day = content.now.astimezone(ZoneInfo(content.digest_list.timezone)).date().isoformat()
    digest = hashlib.sha256()
    code = [str(settings.templates_dir), str(_RENDER_CODE), str(_LOCALES)]  # a new release is a new key
    for part in (repr(replace(content, now=day)), settings.base_url, *code, *map(files_stamp, code)):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()[:40]


_RENDER_CODE = Path(render_issue.__code__.co_filename).parent
_LOCALES = Path(__file__).parent / "locale"


def files_stamp(folder: str) -> str:
    """Names, sizes and modification times of the files under `folder`: an edited template,
    translation or renderer makes a new key."""
    stamps = []
    for root, _dirs, files in os.walk(folder):
        for name in sorted(files):
            try:
                info = os.stat(os.path.join(root, name))
            except OSError:
                continue
            stamps.append(f"{root}/{name}:{info.st_size}:{info.st_mtime_ns}")
    return ";".join(sorted(stamps))


def use_editors_wording(rendered: RenderedIssue, content: IssueContent) -> None:
    """The editors' subject and preheader replace the made ones in every variant: they become the
    rendering's own sentences (its wording, stored with it for the senders), %-escaped."""
    if content.subject:
        rendered.wording["subject"] = content.subject.replace("%", "%%")
    if content.preheader:
        rendered.wording["preheader"] = rendered.wording["preheader_one"] = content.preheader.replace("%", "%%")


def next_issue_email(
    store: Store, settings: Settings, list_slug: str, topics: set[str] | None = None, name: str = "",
    now: datetime | None = None,
) -> tuple[IssueContent, RenderedIssue, tuple[str, str] | None]:
    """The next issue as one reader would get it: (html, text) for these topics (None: all),
    greeted by this name, its links carrying the preview token, which works for no reader.

    What the editors' preview shows and preflight checks, so both see the bytes sent.
    None in place of (html, text) when none of the topics has anything in the issue.
    """
    content, rendered = next_issue(store, settings, list_slug, now)
    variant = rendered.assemble(topics)
    if variant is None:
        return content, rendered, None
    values = rendered.reader_values(preview_token(settings, list_slug), name)
    return content, rendered, (personalize(variant[0], values), personalize(variant[1], values))
