"""`digest lists`: who a list is from, its language, its topics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from digest.cli.base import Context, build_model, cli, pass_ctx, split_list
from digest.errors import NotFound
from digest.models import DigestList
from digest.topics.files import read_topics


@cli.group()
def lists() -> None:
    """Mailing lists: who they are from, their language, their topics."""


@lists.command("add")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--from-email", required=True)
@click.option("--from-name", default="")
@click.option("--reply-to", default=None)
@click.option("--locale", default="en", show_default=True)
@click.option("--timezone", "tz", default="UTC", show_default=True)
@click.option("--description", default="", help="Why readers get it, shown in the footer.")
@click.option("--topics-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The list's topics (TOML, see `digest topics import`); default: keep the ones it has.")
@click.option("--feeds", "feed_ids", default="", help="Comma-separated (default: all).")
@click.option("--opt-in", "opt_in", type=click.Choice(["double", "single"]), default="double", show_default=True,
              help="double: new people confirm by email; single: for imports of people who already consented.")
@pass_ctx
def lists_add(ctx: Context, slug: str, topics_file: Path | None, feed_ids: str, **fields: Any) -> None:
    """Add a list, or change one (its topics and schedule stay unless given)."""
    for feed in split_list(feed_ids):
        ctx.store.get_feed(feed)
    fields["timezone"] = fields.pop("tz")
    try:
        old = ctx.store.get_list(slug)
        topics, schedule = old.topics, old.schedule
    except NotFound:
        topics, schedule = [], None
    if topics_file:
        topics = read_topics(topics_file)[0]
    ctx.store.add_list(build_model(DigestList, slug=slug, topics=topics, feeds=split_list(feed_ids),
                                   schedule=schedule, **fields))
    if topics_file:
        ctx.store.forget_filings(slug)
    click.echo(f"list {slug} saved with {len(topics)} topics")


@lists.command("ls")
@pass_ctx
def lists_ls(ctx: Context) -> None:
    for lst in ctx.store.lists():
        count = ctx.store.subscriber_count(lst.slug)
        when = lst.schedule.describe() if lst.schedule else "sent by hand"
        click.echo(f"{lst.slug}\t{lst.name}\t{lst.locale}\t{count} active subscriber{'' if count == 1 else 's'}"
                   f"\t{when}")
