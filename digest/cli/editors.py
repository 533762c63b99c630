"""`digest editors`: the accounts of the editors' app, their roles and lists.

A password is typed at a hidden prompt, or read from a file (--password-file,
"-" for stdin, first line); never from the command line, where `ps` and shell
history would show it. What is done is recorded in the audit log, by "command line".
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from digest.cli.base import Context, cli, pass_ctx, split_list
from digest.errors import InvalidInput

BY = "command line"
MAX_PASSWORD_FILE_CHARS = 4096

password_file_option = click.option(
    "--password-file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path), default=None,
    help='Read the password from this file\'s first line ("-": standard input) instead of a prompt.')


def read_password(password_file: Path | None) -> str:
    from digest.editors.accounts import check_password

    if password_file is None and sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        if password_file is None or str(password_file) == "-":
            text = sys.stdin.read(MAX_PASSWORD_FILE_CHARS)
        else:
            try:
                text = password_file.read_text(encoding="utf-8")[:MAX_PASSWORD_FILE_CHARS]
            except OSError as exc:
                raise InvalidInput(f"cannot read the password file {password_file}: {exc.strerror}") from None
        password = text.splitlines()[0] if text.strip() else ""
    return check_password(password)


@cli.group()
def editors() -> None:
    """Accounts of the editors' app: admins manage everything, editors the lists they are given."""


@editors.command("create-admin")
@click.argument("email")
@password_file_option
@pass_ctx
def editors_create_admin(ctx: Context, email: str, password_file: Path | None) -> None:
    """Create an admin account (the first one, to sign in at /login)."""
    from digest import audit
    from digest.editors.accounts import create_account

    account = create_account(ctx.store, email, read_password(password_file), role="admin")
    audit.record(ctx.store, None, BY, "account created", f"{account.email} (admin)")
    click.echo(f"admin {account.email} created: sign in at {ctx.settings.base_url}/login")


@editors.command("add")
@click.argument("email")
@click.option("--lists", "list_slugs", default="", help="Comma-separated lists the editor manages.")
@password_file_option
@pass_ctx
def editors_add(ctx: Context, email: str, list_slugs: str, password_file: Path | None) -> None:
    """Create an editor account for some lists."""
    from digest import audit
    from digest.editors.accounts import create_account

    slugs = split_list(list_slugs)
    for slug in slugs:
        ctx.store.get_list(slug)  # before the prompt: a typo costs no password
    account = create_account(ctx.store, email, read_password(password_file), role="editor", lists=slugs)
    audit.record(ctx.store, None, BY, "account created", f"{account.email} (editor)")
    for slug in account.lists:
        audit.record(ctx.store, slug, BY, "editor granted", account.email)
    click.echo(f"editor {account.email} created, lists: {', '.join(account.lists) or 'none yet'}")


@editors.command("ls")
@pass_ctx
def editors_ls(ctx: Context) -> None:
    """Every account: address, role, lists, and whether it is disabled."""
    accounts = ctx.store.accounts()
    if not accounts:
        click.echo("no accounts yet: digest editors create-admin EMAIL")
    for a in accounts:
        lists = "all lists" if a.is_admin else (",".join(a.lists) or "no lists")
        click.echo(f"{a.email}\t{a.role}\t{lists}{chr(9) + 'DISABLED' if a.disabled else ''}")


@editors.command("grant")
@click.argument("email")
@click.option("--lists", "list_slugs", required=True, help="Comma-separated lists to give.")
@pass_ctx
def editors_grant(ctx: Context, email: str, list_slugs: str) -> None:
    """Give an editor more lists."""
    from digest import audit
    from digest.editors.accounts import grant

    account = grant(ctx.store, email, split_list(list_slugs))
    for slug in split_list(list_slugs):
        audit.record(ctx.store, slug, BY, "editor granted", account.email)
    click.echo(f"{account.email}: {', '.join(account.lists)}")


@editors.command("revoke")
@click.argument("email")
@click.option("--lists", "list_slugs", required=True, help="Comma-separated lists to take away.")
@pass_ctx
def editors_revoke(ctx: Context, email: str, list_slugs: str) -> None:
    """Take lists away from an editor (from their next click on)."""
    from digest import audit
    from digest.editors.accounts import revoke

    account = revoke(ctx.store, email, split_list(list_slugs))
    for slug in split_list(list_slugs):
        audit.record(ctx.store, slug, BY, "editor revoked", account.email)
    click.echo(f"{account.email}: {', '.join(account.lists) or 'no lists'}")


@editors.command("passwd")
@click.argument("email")
@password_file_option
@pass_ctx
def editors_passwd(ctx: Context, email: str, password_file: Path | None) -> None:
    """Set a new password; the account is signed out everywhere."""
    from digest import audit
    from digest.editors.accounts import set_password

    account = set_password(ctx.store, email, read_password(password_file))
    audit.record(ctx.store, None, BY, "password set", account.email)
    click.echo(f"{account.email}: new password set, every session ended")


@editors.command("disable")
@click.argument("email")
@click.option("--enable", is_flag=True, help="Enable it again instead.")
@pass_ctx
def editors_disable(ctx: Context, email: str, enable: bool) -> None:
    """Stop an account signing in (its sessions end now), or --enable it again."""
    from digest import audit
    from digest.editors.accounts import set_disabled

    account = set_disabled(ctx.store, email, not enable)
    audit.record(ctx.store, None, BY, "account enabled" if enable else "account disabled", account.email)
    click.echo(f"{account.email}: {'enabled' if enable else 'disabled, signed out everywhere'}")


@editors.command("remove")
@click.argument("email")
@pass_ctx
def editors_remove(ctx: Context, email: str) -> None:
    """Delete an account; its sessions end now."""
    from digest import audit
    from digest.editors.accounts import account_email, remove_account

    remove_account(ctx.store, email)
    audit.record(ctx.store, None, BY, "account removed", account_email(email))
    click.echo(f"{account_email(email)}: removed")
