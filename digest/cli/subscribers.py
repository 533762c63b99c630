"""`digest subscribers`: add, import and list a list's subscribers."""

from __future__ import annotations

import csv
import io
import sys

import click

from digest.cli.base import Context, cli, pass_ctx, split_list
from digest.errors import DigestError, InvalidInput
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
@click.argument("csv_file", type=click.File("r", encoding="utf-8-sig"))
@pass_ctx
def subscribers_import(ctx: Context, list_slug: str, csv_file: io.TextIOBase) -> None:
    """Import a CSV with columns email[,name][,topics]; topics separated by ';'.

    Good rows are imported even when others are bad; each bad row is reported
    with its line number, and the exit status is 2 if there was any.
    """
    ctx.store.get_list(list_slug)
    reader = csv.DictReader(csv_file)
    if not reader.fieldnames or "email" not in [f.strip().lower() for f in reader.fieldnames]:
        raise InvalidInput(f"{csv_file.name}: the first row must name the columns, with at least 'email'")
    imported, bad = 0, []
    for row in reader:
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        try:
            ctx.store.add_subscriber(list_slug, Subscriber(
                email=row.get("email", ""), name=row.get("name", ""),
                topics=split_list(row.get("topics")) or None,
            ))
            imported += 1
        except DigestError as exc:
            bad.append(f"line {reader.line_num}: {exc}")
    click.echo(f"imported {imported} subscribers into {list_slug}")
    if bad:
        click.echo(f"rejected {len(bad)} rows:", err=True)
        for line in bad:
            click.echo(f"  {line}", err=True)
        sys.exit(2)


@subscribers.command("ls")
@click.argument("list_slug")
@pass_ctx
def subscribers_ls(ctx: Context, list_slug: str) -> None:
    for sub in ctx.store.subscribers(list_slug):
        chosen = ",".join(sub.topics) if sub.topics else "all topics"
        click.echo(f"{sub.email}\t{sub.name}\t{sub.status}\t{chosen}")
