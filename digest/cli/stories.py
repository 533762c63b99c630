"""`digest stories`: see, merge, split and pin a list's stories; measure the clustering."""

from __future__ import annotations

from pathlib import Path

import click

from digest.cli.base import Context, cli, pass_ctx
from digest.cli.drafts import BY
from digest.editors import corrections


@cli.group()
def stories() -> None:
    """Stories: the same event from several sources, shown once."""


@stories.command("ls")
@click.argument("list_slug")
@pass_ctx
def stories_ls(ctx: Context, list_slug: str) -> None:
    """The next issue's stories, section by section, with their ids and articles.

    Each article shows its topic and the confidence of that filing ("editor" when
    an editor filed it): the low ones are the ones worth a look.
    """
    content = corrections.next_content(ctx.store, ctx.settings, list_slug)
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
    """Make these stories of the next issue one, for good (the articles are linked, whatever the
    clustering says). The editors' app does the same, and the audit log records both."""
    story = corrections.merge(ctx.store, ctx.settings, list_slug, list(story_ids), BY)
    click.echo(f"merged {len(set(story_ids))} stories of {list_slug} into {story.id}")


@stories.command("split")
@click.argument("list_slug")
@click.argument("story_id")
@click.argument("article_ids", nargs=-1, required=True)
@pass_ctx
def stories_split(ctx: Context, list_slug: str, story_id: str, article_ids: tuple[str, ...]) -> None:
    """Take these articles out of a story, for good: they never join its other articles again
    (and stay one story among themselves).

    ARTICLE_IDS may be the 12-character prefixes `digest stories ls` shows.
    """
    chosen = corrections.split(ctx.store, ctx.settings, list_slug, story_id, list(article_ids), BY)
    click.echo(f"split {len(chosen)} article(s) out of {story_id}")


@stories.command("pin")
@click.argument("list_slug")
@click.argument("story_id")
@click.option("--off", is_flag=True, help="Unpin.")
@pass_ctx
def stories_pin(ctx: Context, list_slug: str, story_id: str, off: bool) -> None:
    """Put a story of the next issue at the top of its section (it keeps its id as articles join it)."""
    corrections.pin(ctx.store, ctx.settings, list_slug, story_id, BY, on=not off)
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
