"""`digest topics`: the topics articles are grouped by."""

from __future__ import annotations

import click

from digest.cli.base import Context, build_model, cli, pass_ctx, split_list
from digest.models import Topic


@cli.group()
def topics() -> None:
    """Define the topics articles are grouped by."""


@topics.command("add")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--keywords", default="", help="Comma-separated; a title match weighs more than a body match.")
@click.option("--description", default="")
@pass_ctx
def topics_add(ctx: Context, slug: str, name: str, keywords: str, description: str) -> None:
    topic = build_model(Topic, slug=slug, name=name, keywords=split_list(keywords), description=description)
    ctx.store.add_topic(topic)
    click.echo(f"topic {slug} saved")


@topics.command("ls")
@pass_ctx
def topics_ls(ctx: Context) -> None:
    for topic in ctx.store.topics():
        click.echo(f"{topic.slug}\t{topic.name}\t{', '.join(topic.keywords)}")


@topics.command("rm")
@click.argument("slug")
@pass_ctx
def topics_rm(ctx: Context, slug: str) -> None:
    ctx.store.remove_topic(slug)
    click.echo(f"topic {slug} removed")
