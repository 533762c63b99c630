"""`digest lists`: who a list is from, its language, its topics."""

from __future__ import annotations

from typing import Any

import click

from digest.cli.base import Context, build_model, cli, pass_ctx, split_list
from digest.models import DigestList


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
@click.option("--topics", "topic_slugs", default="", help="Comma-separated, in order (default: all).")
@click.option("--feeds", "feed_ids", default="", help="Comma-separated (default: all).")
@pass_ctx
def lists_add(ctx: Context, slug: str, topic_slugs: str, feed_ids: str, **fields: Any) -> None:
    for topic in split_list(topic_slugs):
        ctx.store.get_topic(topic)
    for feed in split_list(feed_ids):
        ctx.store.get_feed(feed)
    fields["timezone"] = fields.pop("tz")
    ctx.store.add_list(build_model(DigestList, slug=slug, topics=split_list(topic_slugs), feeds=split_list(feed_ids),
                                   **fields))
    click.echo(f"list {slug} saved")


@lists.command("ls")
@pass_ctx
def lists_ls(ctx: Context) -> None:
    for lst in ctx.store.lists():
        count = ctx.store.subscriber_count(lst.slug)
        click.echo(f"{lst.slug}\t{lst.name}\t{lst.locale}\t{count} active subscribers")
