"""`digest feeds`: add, list and remove feeds."""

from __future__ import annotations

from datetime import datetime, timezone

import click

from digest.cli.base import Context, build_model, cli, pass_ctx
from digest.collect.newsletter import inbound_address
from digest.models import Feed

FULL_TEXT_MODES = ("auto", "always", "never")


@cli.group()
def feeds() -> None:
    """Add, list and remove feeds."""


@feeds.command("add")
@click.argument("feed_id")
@click.argument("url")
@click.option("--name", default="", help="Source name shown in the digest (default: the feed's title).")
@click.option("--full-text", type=click.Choice(FULL_TEXT_MODES), default="auto", show_default=True,
              help="Fetch each article's page for its full text: for teasers only (auto), always or never.")
@click.option("--as-is", is_flag=True, help="Keep the URL without fetching it (no feed discovery).")
@pass_ctx
def feeds_add(ctx: Context, feed_id: str, url: str, name: str, full_text: str, as_is: bool) -> None:
    """Add a feed by its URL, or by a site's or page's URL: the feed it links to is found (discovery)."""
    from digest.editors.feed_admin import add_feed

    added = add_feed(ctx.store, ctx.settings, url, feed_id=feed_id, name=name, full_text=full_text, as_is=as_is)
    if added.warning:  # down now is not wrong: the collector will keep trying
        click.echo(f"warning: {added.warning}", err=True)
    click.echo(f"feed {added.feed.id} added" + (f": {added.how}" if added.how else ""))


@feeds.command("set")
@click.argument("feed_id")
@click.option("--full-text", type=click.Choice(FULL_TEXT_MODES), required=True,
              help="Fetch each article's page for its full text: for teasers only (auto), always or never.")
@pass_ctx
def feeds_set(ctx: Context, feed_id: str, full_text: str) -> None:
    feed = ctx.store.get_feed(feed_id)  # NotFound names the feed
    ctx.store.add_feed(build_model(Feed, **{**feed.model_dump(), "full_text": full_text}))
    click.echo(f"feed {feed_id}: full text {full_text}")


@feeds.command("ls")
@pass_ctx
def feeds_ls(ctx: Context) -> None:
    """Each feed: its URL, its last good fetch, and its health (ok, failing, paused or retired, and why)."""
    feeds = ctx.store.feeds()
    states = ctx.store.feed_states(f.id for f in feeds)
    for feed in feeds:
        state = states[feed.id]
        if feed.status != "active":
            since = f" since {_when(feed.status_since)}" if feed.status_since else ""
            health = f"{feed.status}{since}: {feed.status_reason}"
        elif state.error:
            health = f"error x{state.error_count}: {state.error}"
        else:
            health = "ok"
        if feed.status == "active" and state.next_fetch_at:
            health += f"\tnext check {_when(state.next_fetch_at)}"
        last = _when(state.last_ok_at) if state.last_ok_at else "never"
        where = feed.url or f"newsletter {inbound_address(ctx.settings, feed.id)}"
        click.echo(f"{feed.id}\t{where}\tlast ok {last}\t{health}")


def _when(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes")


@feeds.command("resume")
@click.argument("feed_id")
@pass_ctx
def feeds_resume(ctx: Context, feed_id: str) -> None:
    """Collect a paused or retired feed again, from the next run on, its failure count cleared."""
    feed = ctx.store.get_feed(feed_id)  # NotFound names the feed
    was = f"{feed.status} ({feed.status_reason})" if feed.status != "active" else "active"
    ctx.store.resume_feed(feed_id, datetime.now(timezone.utc))
    click.echo(f"feed {feed_id} resumed (was {was})")


@feeds.command("rm")
@click.argument("feed_id")
@pass_ctx
def feeds_rm(ctx: Context, feed_id: str) -> None:
    ctx.store.remove_feed(feed_id)
    click.echo(f"feed {feed_id} removed")
