"""`digest topics`: a list's topics, written by its editors in its language, and how well they work."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from digest.cli.base import Context, build_model, cli, pass_ctx, split_list
from digest.models import Topic
from digest.topics.files import dump_topics, read_topics


@cli.group()
def topics() -> None:
    """A list's topics: add, import, export, correct, evaluate."""


@topics.command("add")
@click.argument("slug")
@click.option("--list", "list_slug", required=True, help="The list the topic belongs to.")
@click.option("--name", required=True, help="The section heading, in the list's language.")
@click.option("--description", default="", help="One sentence: what belongs in this topic.")
@click.option("--keywords", default="", help="Comma-separated (optional); word forms match.")
@pass_ctx
def topics_add(ctx: Context, slug: str, list_slug: str, name: str, description: str, keywords: str) -> None:
    """Add a topic to a list, or change the one with this slug. The window is filed again."""
    topic = build_model(Topic, slug=slug, name=name, keywords=split_list(keywords), description=description)
    ctx.store.add_topic(list_slug, topic)
    click.echo(f"topic {slug} of {list_slug} saved")


@topics.command("ls")
@click.option("--list", "list_slug", required=True)
@pass_ctx
def topics_ls(ctx: Context, list_slug: str) -> None:
    for topic in ctx.store.get_list(list_slug).topics:
        click.echo(f"{topic.slug}\t{topic.name}\t{topic.description}\t{', '.join(topic.keywords)}")


@topics.command("rm")
@click.argument("slug")
@click.option("--list", "list_slug", required=True)
@pass_ctx
def topics_rm(ctx: Context, slug: str, list_slug: str) -> None:
    ctx.store.remove_topic(list_slug, slug)
    click.echo(f"topic {slug} removed from {list_slug}")


@topics.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--list", "list_slug", required=True)
@pass_ctx
def topics_import(ctx: Context, path: Path, list_slug: str) -> None:
    """Replace a list's topics with those of a TOML topic file (see digest/topics/files.py)."""
    found, _language = read_topics(path)
    ctx.store.set_topics(list_slug, found)
    click.echo(f"{len(found)} topics of {list_slug} imported from {path}: {', '.join(t.slug for t in found)}")


@topics.command("export")
@click.option("--list", "list_slug", required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here (default: standard output).")
@pass_ctx
def topics_export(ctx: Context, list_slug: str, output: Path | None) -> None:
    """A list's topics as a TOML topic file, to keep under version control."""
    lst = ctx.store.get_list(list_slug)
    text = dump_topics(lst.topics, lst.locale, f'"{lst.name}"')
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"{len(lst.topics)} topics -> {output}", err=True)
    else:
        sys.stdout.write(text)


@topics.command("correct")
@click.argument("list_slug")
@click.argument("article_id")
@click.argument("topic")
@pass_ctx
def topics_correct(ctx: Context, list_slug: str, article_id: str, topic: str) -> None:
    """File an article under TOPIC (a slug, or "more"): it sticks, and the list learns from it.

    ARTICLE_ID may be the 12-character prefix `digest stories ls` shows.
    """
    from digest.topics.filing import correct

    article = correct(ctx.store, ctx.settings, list_slug, article_id, topic)
    click.echo(f"{article.title!r} filed under {topic} in {list_slug}; the window is filed again")


@topics.command("undo")
@click.argument("list_slug")
@pass_ctx
def topics_undo(ctx: Context, list_slug: str) -> None:
    """Take back the list's newest correction."""
    ctx.store.get_list(list_slug)
    event = ctx.store.undo_correction(list_slug)
    if event is None:
        click.echo(f"{list_slug} has no correction to undo")
        return
    before = event["before"]["topic"] if event["before"] else "the model's choice"
    click.echo(f"undone: {event['after']['title']!r} is back to {before}")


@topics.command("eval")
@click.option("--topics", "topics_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="A topic file (TOML), as `digest topics import` takes.")
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="A labelled CSV: id,label,title,text (label: a topic's name or slug).")
@click.option("--corrections", default=0, show_default=True, help="Labelled examples per topic used as corrections.")
@click.option("--seeds", default=3, show_default=True, help="Draws of corrections to average over.")
def topics_eval(topics_file: Path, data: Path, corrections: int, seeds: int) -> None:
    """Per-topic F1, then `accuracy A macro-F1 F more-news M`, with the shipped settings."""
    from digest.topics.evaluate import evaluate_topics

    click.echo(evaluate_topics(topics_file, data, corrections, seeds).report())
