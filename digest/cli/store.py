"""`digest store`: the store's own upkeep (store/migrate.py)."""

from __future__ import annotations

import click

from digest.cli.base import Context, cli, pass_ctx


@cli.group()
def store() -> None:
    """The Redis store itself."""


@store.command("migrate")
@click.option("--dry-run", is_flag=True, help="Count what would be renamed; change nothing.")
@pass_ctx
def store_migrate(ctx: Context, dry_run: bool) -> None:
    """Rename keys of the layout before hash tags to today's names (idempotent).

    Stop every digest process first. Exits 1 when a key's new name was taken already
    (both kept: see which holds what you need and delete the other).
    """
    from digest.store.migrate import migrate

    done = migrate(ctx.store, dry_run=dry_run)
    verb = "would rename" if dry_run else "renamed"
    click.echo(f"{verb} {done.renamed} keys; {done.already} already named so; "
               f"{done.left_alone} left alone (beat, event dedupe, running imports: they expire or are rewritten)")
    for key in done.conflicts:
        click.echo(f"conflict: {key} (its new name exists already)", err=True)
    if done.conflicts:
        raise SystemExit(1)
