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
@click.option("--postal-address", default=None,
              help="The sender's postal address, in every footer (CAN-SPAM); issues are not sent without it.")
@click.option("--intro", default=None, help="An editor's note at the top of each issue (\"\" removes it).")
@click.option("--subject-max-chars", type=int, default=None, help="Subjects are cut at a word below this [70].")
@pass_ctx
def lists_add(ctx: Context, slug: str, topics_file: Path | None, feed_ids: str, **fields: Any) -> None:
    """Add a list, or change one (its topics, schedule, postal address, intro and subject length stay unless given)."""
    for feed in split_list(feed_ids):
        ctx.store.get_feed(feed)
    fields["timezone"] = fields.pop("tz")
    kept = ("postal_address", "intro", "subject_max_chars")
    try:
        old = ctx.store.get_list(slug)
        topics, schedule = old.topics, old.schedule
        fields.update({k: getattr(old, k) for k in kept if fields[k] is None})
    except NotFound:
        topics, schedule = [], None
    fields = {k: v for k, v in fields.items() if v is not None or k not in kept}
    if topics_file:
        topics = read_topics(topics_file)[0]
    saved = build_model(DigestList, slug=slug, topics=topics, feeds=split_list(feed_ids), schedule=schedule, **fields)
    ctx.store.add_list(saved)
    if topics_file:
        ctx.store.forget_filings(slug)
    click.echo(f"list {slug} saved with {len(topics)} topics")
    if not saved.postal_address:
        click.echo(f"note: list {slug} has no postal address: its issues are not sent until it has one "
                   "(--postal-address)", err=True)


@lists.command("ls")
@pass_ctx
def lists_ls(ctx: Context) -> None:
    for lst in ctx.store.lists():
        count = ctx.store.subscriber_count(lst.slug)
        when = lst.schedule.describe() if lst.schedule else "sent by hand"
        click.echo(f"{lst.slug}\t{lst.name}\t{lst.locale}\t{count} active subscriber{'' if count == 1 else 's'}"
                   f"\t{when}")
