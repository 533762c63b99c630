"""`digest collect`, `digest preview` and `digest demo`: the issue's ingredients and how it looks."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from digest.cli.base import Context, cli, pass_ctx, split_list
from digest.errors import InvalidInput


@cli.command()
@click.option("--feed", "feed_id", default=None, help="Only this feed (default: every feed).")
@pass_ctx
def collect(ctx: Context, feed_id: str | None) -> None:
    """Collect new articles now, in this process (ignoring backoff)."""
    from digest.collect.collector import collect_all, collect_feed

    if feed_id:
        results = [collect_feed(ctx.store, ctx.settings, feed_id, force=True)]
    else:
        results = collect_all(ctx.store, ctx.settings, force=True)
    failed = 0
    for result in results:
        fid = result.feed_id
        if result.error:
            failed += 1
            click.echo(f"{fid}: error: {result.error}", err=True)
        elif result.not_modified:
            click.echo(f"{fid}: not modified")
        else:
            click.echo(f"{fid}: {result.new} new, {result.duplicates} duplicates")
    if failed:
        sys.exit(1)


@cli.command()
@click.argument("list_slug")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--topics", "topic_slugs", default="", help="Preview the variant for these topics.")
@click.option("--text", is_flag=True, help="Write the plain-text part instead of the HTML.")
@pass_ctx
def preview(ctx: Context, list_slug: str, output: Path, topic_slugs: str, text: bool) -> None:
    """Write a list's next issue to a file, exactly as it will be sent."""
    from digest.issue import next_issue
    from digest.links import preview_token
    from digest.render import personalize

    content, rendered = next_issue(ctx.store, ctx.settings, list_slug)
    variant = rendered.assemble(set(split_list(topic_slugs)) or None)
    if variant is None:
        raise InvalidInput(f"none of the topics {topic_slugs!r} has articles in this issue")
    sample = rendered.reader_values(preview_token(ctx.settings, list_slug), "")
    output.write_text(personalize(variant[1] if text else variant[0], sample), encoding="utf-8")
    count = sum(len(s.articles) for s in content.sections)
    click.echo(f"{rendered.subject_for(set(split_list(topic_slugs)) or None)}\n{count} articles -> {output}")



@cli.command()
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=Path("var/demo"))
@click.option("--serve", is_flag=True, help="Then keep web, worker and beat running on loopback (BASE_URL's "
              "port) to click through preview, archive, subscribe and preferences; Ctrl-C stops.")
def demo(output: Path, serve: bool) -> None:
    """Collect the bundled sample feeds, build and 'send' a digest to the outbox."""
    from digest.demo import run_demo

    run_demo(output, serve=serve)
