"""`digest stories`: see, merge, split and pin a list's stories; measure the clustering."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click

from digest.cli.base import Context, cli, pass_ctx
from digest.errors import InvalidInput, NotFound


@cli.group()
def stories() -> None:
    """Stories: the same event from several sources, shown once."""


def _members(ctx: Context, list_slug: str, story_id: str) -> list[str]:
    ctx.store.get_list(list_slug)
    members = ctx.store.story_members(list_slug, story_id)
    if not members:
        raise NotFound(f"story of list {list_slug!r} (see `digest stories ls {list_slug}`)", story_id)
    return members


@stories.command("ls")
@click.argument("list_slug")
@pass_ctx
def stories_ls(ctx: Context, list_slug: str) -> None:
    """The next issue's stories, section by section, with their ids and articles.

    Each article shows its topic and the confidence of that filing ("editor" when
    an editor filed it): the low ones are the ones worth a look.
    """
    from digest.issue import build_issue

    content = build_issue(ctx.store, ctx.settings, ctx.store.get_list(list_slug), datetime.now(timezone.utc))
    for section in content.sections:
        click.echo(f"== {section.name} ==")
        for story in section.stories:
            pin = " (pinned)" if story.pinned else ""
            click.echo(f"{story.id}{pin}  {story.sources} source(s)")
            for article in story.articles:
                filing = content.filings.get(article.id)
                where = f"{filing.primary} {filing.confidence:.2f}{' editor' if filing.by == 'editor' else ''}" \
                    if filing else "?"
                click.echo(f"    {article.id[:12]}  [{where}]  {article.source}: {article.title}")


@stories.command("merge")
@click.argument("list_slug")
@click.argument("story_ids", nargs=-1, required=True)
@pass_ctx
def stories_merge(ctx: Context, list_slug: str, story_ids: tuple[str, ...]) -> None:
    """Make these stories one, for good (the articles are linked, whatever the clustering says)."""
    if len(story_ids) < 2:
        raise InvalidInput("name at least two stories to merge")
    groups = [_members(ctx, list_slug, s) for s in story_ids]
    first = groups[0][0]
    ctx.store.link_articles(list_slug, [(first, a) for group in groups for a in group], "must")
    click.echo(f"merged {len(story_ids)} stories ({sum(map(len, groups))} articles) of {list_slug}")


@stories.command("split")
@click.argument("list_slug")
@click.argument("story_id")
@click.argument("article_ids", nargs=-1, required=True)
@pass_ctx
def stories_split(ctx: Context, list_slug: str, story_id: str, article_ids: tuple[str, ...]) -> None:
    """Take these articles out of a story, for good: they never join its other articles again.

    ARTICLE_IDS may be the 12-character prefixes `digest stories ls` shows.
    """
    members = _members(ctx, list_slug, story_id)
    chosen = []
    for prefix in article_ids:
        found = [a for a in members if a.startswith(prefix)]
        if len(found) != 1:
            raise NotFound(f"article of story {story_id!r}", prefix)
        chosen.append(found[0])
    rest = [a for a in members if a not in chosen]
    if not rest:
        raise InvalidInput("that would leave the story empty: name only some of its articles")
    ctx.store.link_articles(list_slug, [(a, b) for a in chosen for b in rest], "cannot")
    ctx.store.link_articles(list_slug, [(chosen[0], a) for a in chosen[1:]], "must")
    click.echo(f"split {len(chosen)} article(s) out of {story_id}")


@stories.command("pin")
@click.argument("list_slug")
@click.argument("story_id")
@click.option("--off", is_flag=True, help="Unpin.")
@pass_ctx
def stories_pin(ctx: Context, list_slug: str, story_id: str, off: bool) -> None:
    """Put a story at the top of its section (it keeps its id as articles join it)."""
    _members(ctx, list_slug, story_id)
    ctx.store.pin(list_slug, story_id, on=not off)
    click.echo(f"{story_id} {'unpinned' if off else 'pinned'}")


@stories.command("eval")
@click.option("--data", "data", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="CSV with title,text,cluster_id (a date column `published`, if any, is used).")
def stories_eval(data: Path) -> None:
    """B-cubed precision, recall and F1 of the shipped story settings on labelled data."""
    from digest.topics.evaluate import b_cubed, read_labelled
    from digest.topics.stories import Doc, cluster

    rows = read_labelled(data, "cluster_id")
    labels = cluster([Doc(r.title, r.text) for r in rows])
    p, r, f = b_cubed([row.label for row in rows], labels)
    click.echo(f"{len(rows)} documents, {len(set(row.label for row in rows))} stories, {len(set(labels))} found")
    click.echo(f"B3 precision {p:.4f} recall {r:.4f} F1 {f:.4f}")
