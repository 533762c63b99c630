"""`digest feeds import-opml | export-opml | add-newsletter`: feed lists and newsletters as sources."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import click

from digest.cli.base import Context, build_model, pass_ctx, split_list
from digest.cli.feeds import feeds
from digest.collect.fetch import fetch_feed, make_client
from digest.collect.newsletter import inbound_address
from digest.collect.opml import export_opml, import_feeds, read_opml
from digest.errors import InvalidInput, NotFound
from digest.models import Feed


@feeds.command("import-opml")
@click.argument("source")
@pass_ctx
def feeds_import_opml(ctx: Context, source: str) -> None:
    """Add the feeds of an OPML file or URL; outlines that cannot be added are listed, the rest kept."""
    limit = ctx.settings.fetch_max_bytes
    if source.lower().startswith(("http://", "https://")):
        with make_client(ctx.settings) as client:  # the address policy, deadline and cap of every fetch
            content = fetch_feed(client, source, max_bytes=limit).content or b""
    else:
        path = Path(source)
        if not path.is_file():
            raise InvalidInput(f"{source}: no such file")
        with path.open("rb") as f:
            content = f.read(limit + 1)
        if len(content) > limit:
            raise InvalidInput(f"{source}: more than {limit} bytes (FETCH_MAX_BYTES)")
    result = import_feeds(ctx.store, read_opml(content, source))
    for feed in result.added:
        click.echo(f"added {feed.id}\t{feed.url}" + (f"\t{', '.join(feed.categories)}" if feed.categories else ""))
    for problem in result.problems:
        click.echo(f"not added: {problem}", err=True)
    click.echo(f"{len(result.added)} feeds added, {len(result.problems)} outlines not added")


@feeds.command("export-opml")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write to this file instead of standard output.")
@click.option("--title", default="digest feeds", show_default=True, help="The OPML document's title.")
@pass_ctx
def feeds_export_opml(ctx: Context, output: str | None, title: str) -> None:
    """Every feed as OPML 2.0 (newsletters have no feed URL and are left out)."""
    feeds_ = ctx.store.feeds()
    document = export_opml(feeds_, title=title, now=datetime.now(timezone.utc))
    if output:
        Path(output).write_bytes(document)
    else:
        sys.stdout.buffer.write(document)
        sys.stdout.flush()
    left_out = sum(1 for f in feeds_ if f.kind != "feed")
    if left_out:
        click.echo(f"{left_out} newsletters left out (they have no feed URL)", err=True)


@feeds.command("add-newsletter")
@click.argument("feed_id")
@click.option("--name", default="", help="Source name shown in the digest (default: the sender's name).")
@click.option("--sender", "senders", multiple=True, required=True,
              help="An address whose mail is taken (or @domain for any address there); repeat or comma-separate.")
@pass_ctx
def feeds_add_newsletter(ctx: Context, feed_id: str, name: str, senders: tuple[str, ...]) -> None:
    """A newsletter as a source: mail from its senders to its inbound address becomes its articles.

    Running it again for the same id replaces its name and senders.
    """
    allowed = [s for value in senders for s in split_list(value)]
    try:
        existing = ctx.store.get_feed(feed_id)
    except NotFound:
        existing = None
    if existing is not None and existing.kind != "newsletter":
        raise InvalidInput(f"{feed_id!r} is already a feed ({existing.url}), not a newsletter")
    ctx.store.add_feed(build_model(Feed, id=feed_id, kind="newsletter", name=name, senders=allowed))
    click.echo(f"newsletter {feed_id} added: subscribe {inbound_address(ctx.settings, feed_id)}; "
               f"mail from {', '.join(allowed)} becomes its articles")
    if ctx.settings.newsletter_inbound_secret is None:
        click.echo("warning: NEWSLETTER_INBOUND_SECRET is not set, so no mail is received yet", err=True)
