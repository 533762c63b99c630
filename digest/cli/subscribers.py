"""`digest subscribers`: add, import and list a list's subscribers."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from digest.cli.base import Context, cli, pass_ctx, split_list
from digest.models import Subscriber


@cli.group()
def subscribers() -> None:
    """Add, import and list a list's subscribers."""


@subscribers.command("add")
@click.argument("list_slug")
@click.argument("email")
@click.option("--name", default="")
@click.option("--topics", "topic_slugs", default="", help="Comma-separated (default: every topic).")
@pass_ctx
def subscribers_add(ctx: Context, list_slug: str, email: str, name: str, topic_slugs: str) -> None:
    sub = ctx.store.add_subscriber(
        list_slug, Subscriber(email=email, name=name, topics=split_list(topic_slugs) or None)
    )
    click.echo(f"{sub.email} subscribed to {list_slug}")


@subscribers.command("import")
@click.argument("list_slug")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_ctx
def subscribers_import(ctx: Context, list_slug: str, csv_file: Path) -> None:
    """Import a CSV with a header naming email[,name][,topics]; topics separated by ';'.

    Good rows are imported even when others are bad; each bad row is reported
    with its line number and reason, and the exit status is 2 if there was any.
    Nobody who left is resubscribed (see digest/subscriber_csv.py).
    """
    from digest.subscriber_csv import import_csv

    report = import_csv(ctx.store, list_slug, csv_file)
    click.echo(f"imported {report.imported} subscribers into {list_slug}")
    if report.problems:
        click.echo(f"rejected {len(report.problems)} rows:", err=True)
        for line, reason in report.problems:
            click.echo(f"  line {line}: {reason}", err=True)
        sys.exit(2)


@subscribers.command("ls")
@click.argument("list_slug")
@pass_ctx
def subscribers_ls(ctx: Context, list_slug: str) -> None:
    for sub in ctx.store.subscribers(list_slug):
        chosen = ",".join(sub.topics) if sub.topics else "all topics"
        click.echo(f"{sub.email}\t{sub.name}\t{sub.status}\t{chosen}")


@subscribers.command("export")
@click.argument("list_slug")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here (default: standard output).")
@pass_ctx
def subscribers_export(ctx: Context, list_slug: str, output: Path | None) -> None:
    """Every subscriber of a list as CSV; cells a spreadsheet would run as formulas are neutralised."""
    from digest.subscriber_csv import export_csv

    if output is None:
        export_csv(ctx.store, list_slug, sys.stdout)
        return
    with output.open("w", encoding="utf-8", newline="") as f:
        count = export_csv(ctx.store, list_slug, f)
    click.echo(f"{count} subscribers of {list_slug} -> {output}", err=True)


@subscribers.command("unsubscribe")
@click.argument("list_slug")
@click.argument("email")
@pass_ctx
def subscribers_unsubscribe(ctx: Context, list_slug: str, email: str) -> None:
    """Unsubscribe an address from a list (it stays on record, and is not mailed again)."""
    was = ctx.store.unsubscribe(list_slug, email)
    click.echo(f"{email} unsubscribed from {list_slug}" if was else f"{email} was not subscribed to {list_slug}")


@subscribers.command("rm")
@click.argument("list_slug")
@click.argument("email")
@pass_ctx
def subscribers_rm(ctx: Context, list_slug: str, email: str) -> None:
    """Take an address off a list altogether."""
    ctx.store.remove_subscriber(list_slug, email)
    click.echo(f"{email} removed from {list_slug}")
