"""`digest send`: send an issue, follow it, resolve what a crash left unconfirmed."""

from __future__ import annotations

import sys
import time

import click

from digest.cli.base import Context, cli, pass_ctx
from digest.errors import InvalidInput


@cli.group()
def send() -> None:
    """Send an issue, follow it, resolve what a crash left unconfirmed."""


@send.command("now")
@click.argument("list_slug")
@click.option("--here", is_flag=True, help="Send from this process instead of the Celery workers.")
@click.option("--no-wait", is_flag=True, help="Queue the batches and return.")
@click.option("--force", is_flag=True, help="Send even when nothing is new: the window's articles again.")
@pass_ctx
def send_now(ctx: Context, list_slug: str, here: bool, no_wait: bool, force: bool) -> None:
    """Send a list's next issue now and wait until it is handed over."""
    from digest.deliver import make_sender
    from digest.deliver.send import prepare_issue, send_inline

    plan = prepare_issue(ctx.store, ctx.settings, list_slug, again=force)
    click.echo(f"issue {plan.issue_id}: {plan.recipients} recipients in {len(plan.batches)} batches")
    if here:
        send_inline(ctx.store, ctx.settings, make_sender(ctx.settings), plan.issue_id)
    else:
        from digest.tasks import enqueue_batches

        enqueue_batches(plan.issue_id)
        if no_wait:
            return
        wait_for_issue(ctx, plan.issue_id)
    exit_unless_settled(print_issue_status(ctx, plan.issue_id), plan.issue_id)


def wait_for_issue(ctx: Context, issue_id: str, poll: float = 0.5) -> None:
    from digest.deliver.ledger import Ledger

    ledger = Ledger(ctx.store)
    last, since = "", time.monotonic()
    while not (status := ledger.status(issue_id)).finished:
        line = " ".join(f"{k}={v}" for k, v in sorted(status.states.items()))
        if line != last:
            click.echo(f"  {line}", err=True)
            last, since = line, time.monotonic()
        elif time.monotonic() - since > 30:
            if status.states.get("submitting"):  # a request in flight: its lease says when it is given up
                click.echo("  a batch has been in flight for 30 s; if its worker died it shows as unconfirmed "
                           "within a minute", err=True)
            elif status.states.get("pending"):
                click.echo("  no batch has moved for 30 s: is a worker consuming the 'send' queue? "
                           "(celery -A digest.celery_app worker -Q send, or send with --here)", err=True)
            since = time.monotonic()
        time.sleep(poll)
    ledger.mark_done_if_finished(issue_id)


def print_issue_status(ctx: Context, issue_id: str) -> bool:
    """Print an issue's state; False when it needs the operator (halted, failed or unconfirmed batches)."""
    from digest.deliver.ledger import Ledger

    status = Ledger(ctx.store).status(issue_id)
    if not status.meta:
        raise InvalidInput(f"unknown issue: {issue_id!r}")
    c = status.counts
    click.echo(
        f"issue {issue_id} ({status.meta.get('status', '?')}): {c.get('accepted', 0)} handed over, "
        f"{c.get('suppressed', 0)} suppressed, {c.get('failed', 0)} failed, "
        f"{c.get('no_section', 0)} with no chosen topic in this issue; {c.get('requests', 0)} requests"
    )
    click.echo("batches: " + ", ".join(f"{k} {v}" for k, v in sorted(status.states.items())))
    if "halted" in status.meta:
        click.echo(f"HALTED: {status.meta['halted']}\n  fix it, then: digest send resume {issue_id}")
    for p in status.problems:
        click.echo(f"  {p['state']:<12} batch {p['batch']}: {p.get('recipients', '?')} recipients; "
                   f"{p.get('error', '')}")
    if any(p["state"] == "unconfirmed" for p in status.problems):
        click.echo(f"  look each up in SendGrid's activity feed (custom arg batch=BATCH; its addresses: "
                   f"digest send batch {issue_id} BATCH),\n"
                   f"  then resolve it: digest send resolve {issue_id} BATCH --resend | --mark-sent")
    return "halted" not in status.meta and not status.problems


def exit_unless_settled(fine: bool, issue_id: str) -> None:
    """An issue that is halted or has failed or unconfirmed batches is not a success: exit 1."""
    if not fine:
        click.echo(f"issue {issue_id} needs attention (see above)", err=True)
        sys.exit(1)


@send.command("status")
@click.argument("issue_id", required=False)
@click.option("--list", "list_slug", default=None, help="Show this list's issues.")
@pass_ctx
def send_status(ctx: Context, issue_id: str | None, list_slug: str | None) -> None:
    """An issue's batches: handed over, failed, unconfirmed."""
    from digest.deliver.ledger import Ledger

    if issue_id:
        exit_unless_settled(print_issue_status(ctx, issue_id), issue_id)
        return
    slugs = [list_slug] if list_slug else [lst.slug for lst in ctx.store.lists()]
    for slug in slugs:
        for issue in Ledger(ctx.store).issues(slug)[-5:]:
            print_issue_status(ctx, issue)


@send.command("batch")
@click.argument("issue_id")
@click.argument("batch_id")
@pass_ctx
def send_batch_addresses(ctx: Context, issue_id: str, batch_id: str) -> None:
    """One batch's state and addresses, to look it up in SendGrid's activity feed."""
    from digest.deliver.ledger import Ledger, state_kind

    ledger = Ledger(ctx.store)
    state = ledger.batch_state(issue_id, batch_id)
    click.echo(f"batch {batch_id} of {issue_id}: {state_kind(state)}, {ledger.planned(issue_id, batch_id)} "
               f"addresses (SendGrid custom args: issue={issue_id} batch={batch_id})")
    for email in ledger.members(issue_id, batch_id):
        click.echo(email)


@send.command("resolve")
@click.argument("issue_id")
@click.argument("batch_id")
@click.option("--resend", "action", flag_value="resend", help="SendGrid did not get it: send again.")
@click.option("--mark-sent", "action", flag_value="mark-sent", help="SendGrid did get it: count it sent.")
@pass_ctx
def send_resolve(ctx: Context, issue_id: str, batch_id: str, action: str | None) -> None:
    """Decide an unconfirmed (or failed) batch. Check SendGrid's activity feed first."""
    from digest.deliver.ledger import Ledger

    if action is None:
        raise InvalidInput("say --resend or --mark-sent")
    ledger = Ledger(ctx.store)
    ledger.batch_state(issue_id, batch_id)  # unknown issue or batch: an error naming it
    result = ledger.resolve(issue_id, batch_id, resend=action == "resend")
    if result.startswith("left alone"):
        raise InvalidInput(f"batch {batch_id} of {issue_id} is not unconfirmed or failed: {result}")
    click.echo(f"batch {batch_id}: {result}")
    if result == "resend":
        click.echo(f"queue it with: digest send resume {issue_id}")


@send.command("pause")
@click.argument("issue_id")
@pass_ctx
def send_pause(ctx: Context, issue_id: str) -> None:
    """Hold a send under way: no batch not yet claimed goes out until `digest send resume`."""
    from digest import audit
    from digest.deliver.ledger import Ledger

    ledger = Ledger(ctx.store)
    meta = ledger.meta(issue_id)
    if not meta:
        raise InvalidInput(f"unknown issue: {issue_id!r}")
    if not ledger.pause(issue_id, "command line"):
        raise InvalidInput(f"issue {issue_id} is not sending (it is {meta.get('status', '?')})")
    audit.record(ctx.store, meta["list"], "command line", "pause", issue_id)
    click.echo(f"issue {issue_id} paused; batches in flight finish. Resume: digest send resume {issue_id}")


@send.command("resume")
@click.argument("issue_id")
@click.option("--here", is_flag=True, help="Send from this process instead of the Celery workers.")
@pass_ctx
def send_resume(ctx: Context, issue_id: str, here: bool) -> None:
    """Lift a halt and queue every batch that is still open."""
    from digest.deliver import make_sender
    from digest.deliver.ledger import Ledger
    from digest.deliver.send import send_inline

    ledger = Ledger(ctx.store)
    if not ledger.meta(issue_id):
        raise InvalidInput(f"unknown issue: {issue_id!r}")
    ledger.resume(issue_id)
    if here:
        send_inline(ctx.store, ctx.settings, make_sender(ctx.settings), issue_id)
    else:
        from digest.tasks import enqueue_batches

        click.echo(f"queued {enqueue_batches(issue_id)} batches")
        wait_for_issue(ctx, issue_id)
    exit_unless_settled(print_issue_status(ctx, issue_id), issue_id)
