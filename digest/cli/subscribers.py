"""`digest subscribers`: add, import, list and export a list's subscribers; one person's data."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import click

from digest.cli.base import Context, cli, pass_ctx, split_list

OPT_IN = click.Choice(["double", "single"])
OPT_IN_HELP = ("Default: the list's. 'double' asks the new ones to confirm by email even on a single "
               "opt-in list; 'single' is only for lists set to single opt-in.")


@cli.group()
def subscribers() -> None:
    """Add, import and list a list's subscribers; export or forget one person."""


def _confirmations(ctx: Context, list_slug: str) -> Callable[[list[str]], int]:
    """Mails confirmation requests to pending addresses of the list (digest/confirm.py)."""
    from digest.confirm import send_confirmations
    from digest.deliver import make_sender

    ctx.settings.require_secret_key()  # before anyone is added: the links are signed
    sender = make_sender(ctx.settings)
    return lambda emails: send_confirmations(ctx.store, ctx.settings, sender, list_slug, emails)


def _asks_to_confirm(ctx: Context, list_slug: str, opt_in: str | None) -> bool:
    return (opt_in or ctx.store.get_list(list_slug).opt_in) == "double"


@subscribers.command("add")
@click.argument("list_slug")
@click.argument("email")
@click.option("--name", default=None, help="Default: none for someone new, unchanged for someone on the list.")
@click.option("--topics", "topic_slugs", default=None,
              help="Comma-separated (default: every topic for someone new, unchanged for someone on the list).")
@click.option("--opt-in", "opt_in", type=OPT_IN, default=None, help=OPT_IN_HELP)
@pass_ctx
def subscribers_add(
    ctx: Context, list_slug: str, email: str, name: str | None, topic_slugs: str | None, opt_in: str | None,
) -> None:
    """Add someone to a list: active at once on a single opt-in list, else pending until they
    confirm the email sent now. Someone already on it keeps their status (nobody who left is
    resubscribed); their name and topics change if given."""
    from digest.people import add_person

    confirm = _confirmations(ctx, list_slug) if _asks_to_confirm(ctx, list_slug, opt_in) else None
    topics = split_list(topic_slugs) or None if topic_slugs is not None else None
    sub, new = add_person(ctx.store, list_slug, email, name=name, topics=topics, source="cli", opt_in=opt_in)
    if not new:
        state = "not resubscribed" if sub.status not in ("active", "paused", "pending") else "updated"
        click.echo(f"{sub.email} is {sub.status} on {list_slug}: {state}")
    elif sub.status == "active":
        click.echo(f"{sub.email} subscribed to {list_slug}")
    elif sub.status == "pending" and confirm is not None:
        sent = confirm([sub.email])
        how = "a confirmation email was sent" if sent else "no confirmation sent (its daily limit is reached)"
        click.echo(f"{sub.email} added to {list_slug}, pending until they confirm: {how}")
    else:
        click.echo(f"{sub.email} is on the suppression list: added to {list_slug} as {sub.status}, never mailed")


@subscribers.command("import")
@click.argument("list_slug")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--update", is_flag=True,
              help="Also set the name and topics of people already on the list to the file's (their status stays).")
@click.option("--opt-in", "opt_in", type=OPT_IN, default=None, help=OPT_IN_HELP)
@pass_ctx
def subscribers_import(ctx: Context, list_slug: str, csv_file: Path, update: bool, opt_in: str | None) -> None:
    """Import a CSV with a header naming email[,name][,topics]; topics separated by ';'.

    New people join as the list's opt-in says (on a double opt-in list they are
    pending and get a confirmation email after the import). Good rows are imported
    even when others are bad; each bad row is reported with its line number and
    reason, and the exit status is 2 if there was any. Re-importing is safe: nobody
    who left or is suppressed is (re)subscribed, and the name and topics of people
    already on the list change only with --update. The summary counts new, updated,
    unchanged, refused (bad) and suppressed (left before, or on the suppression list).
    """
    from digest.subscriber_csv import import_csv

    confirm = _confirmations(ctx, list_slug) if _asks_to_confirm(ctx, list_slug, opt_in) else None
    # Reported after the bar, from a file past 1 MB: a million bad rows cost no memory.
    with tempfile.SpooledTemporaryFile(max_size=1 << 20, mode="w+", encoding="utf-8") as problems:
        def on_problem(line: int, reason: str) -> None:
            problems.write(f"  line {line}: {reason}\n")

        if sys.stderr.isatty():
            with click.progressbar(length=csv_file.stat().st_size, label=f"importing {csv_file.name}",
                                   file=sys.stderr, show_percent=True, show_eta=True) as bar:
                done = [0]

                def on_progress(position: int) -> None:
                    bar.update(position - done[0])
                    done[0] = position

                summary = import_csv(ctx.store, list_slug, csv_file, update=update, opt_in=opt_in,
                                     on_problem=on_problem, on_progress=on_progress, confirm=confirm)
        else:
            summary = import_csv(ctx.store, list_slug, csv_file, update=update, opt_in=opt_in,
                                 on_problem=on_problem, confirm=confirm)
        click.echo(f"{list_slug}: {summary.new} new, {summary.updated} updated, {summary.unchanged} unchanged, "
                   f"{summary.refused} refused, {summary.suppressed} suppressed")
        if summary.pending:
            click.echo(f"{summary.pending} new subscribers are pending until they confirm; "
                       f"{summary.confirmations} confirmation emails sent")
        if summary.refused:
            click.echo(f"refused {summary.refused} rows:", err=True)
            problems.seek(0)
            shutil.copyfileobj(problems, sys.stderr)
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


@subscribers.command("person")
@click.argument("email")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here (default: standard output).")
@pass_ctx
def subscribers_person(ctx: Context, email: str, output: Path | None) -> None:
    """Everything digest holds about one address, on every list, as JSON (a data access request)."""
    from digest.people import export_person

    text = json.dumps(export_person(ctx.store, email), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"{email} -> {output}", err=True)


@subscribers.command("forget")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def subscribers_forget(ctx: Context, email: str, yes: bool) -> None:
    """Erase an address everywhere (a deletion request), keeping only its SHA-256 on the
    suppression list so that it is never mailed again, even if imported or added later."""
    from digest.addresses import normalize_email
    from digest.people import forget_person

    address = normalize_email(email)
    if not yes:
        click.confirm(f"Erase {address} from every list and record, for good?", abort=True)
    erased = forget_person(ctx.store, address)
    lists = f" ({', '.join(erased.lists)})" if erased.lists else ""
    click.echo(f"{address} forgotten: erased from {len(erased.lists)} lists{lists}, {len(erased.keys)} other "
               f"records and {erased.issue_copies} issue recipient copies; only its SHA-256 is kept, "
               f"on the suppression list")
