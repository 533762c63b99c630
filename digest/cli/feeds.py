"""`digest feeds`: add, list and remove feeds."""

from __future__ import annotations

import click

from digest.cli.base import Context, build_model, cli, pass_ctx
from digest.models import Feed


@cli.group()
def feeds() -> None:
    """Add, list and remove feeds."""


@feeds.command("add")
@click.argument("feed_id")
@click.argument("url")
@click.option("--name", default="", help="Source name shown in the digest (default: the feed's title).")
@pass_ctx
def feeds_add(ctx: Context, feed_id: str, url: str, name: str) -> None:
    ctx.store.add_feed(build_model(Feed, id=feed_id, url=url, name=name))
    click.echo(f"feed {feed_id} added")


@feeds.command("ls")
@pass_ctx
def feeds_ls(ctx: Context) -> None:
    for feed in ctx.store.feeds():
        state = ctx.store.feed_state(feed.id)
        health = f"error x{state.error_count}: {state.error}" if state.error else "ok"
        last = state.last_ok_at.isoformat(timespec="minutes") if state.last_ok_at else "never"
        click.echo(f"{feed.id}\t{feed.url}\tlast ok {last}\t{health}")


@feeds.command("rm")
@click.argument("feed_id")
@pass_ctx
def feeds_rm(ctx: Context, feed_id: str) -> None:
    ctx.store.remove_feed(feed_id)
    click.echo(f"feed {feed_id} removed")
