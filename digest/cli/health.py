"""`digest lists health`: what SendGrid's events say about a list's last issues."""

from __future__ import annotations

import click

from digest.cli.base import Context, pass_ctx
from digest.cli.lists import lists


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.2%}"


@lists.command("health")
@click.argument("list_slug")
@click.option("--issues", "last", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="How many of the newest issues.")
@pass_ctx
def lists_health(ctx: Context, list_slug: str, last: int) -> None:
    """Bounce and complaint rates of a list's last issues, and whether its schedule is paused.

    Handed over: recipients SendGrid accepted. Bounces: hard bounces and blocks.
    Rates are of handed over. An issue marked "!" passed the complaint limit
    (COMPLAINT_PAUSE_RATE, with at least COMPLAINT_PAUSE_MIN reports), which pauses
    a scheduled list.
    """
    from digest.deliver.ledger import Ledger
    from digest.events import issue_health, over_complaint_limit

    lst = ctx.store.get_list(list_slug)
    settings = ctx.settings
    if lst.schedule is None:
        click.echo(f"{list_slug}: no schedule (sent by hand)")
    elif lst.schedule.paused:
        click.echo(f"{list_slug}: schedule PAUSED: {lst.schedule.paused}")
    else:
        click.echo(f"{list_slug}: schedule running, {lst.schedule.describe()}")
    issue_ids = Ledger(ctx.store).issues(list_slug)[-last:]
    if not issue_ids:
        click.echo("no issues yet")
        return
    click.echo(f"{'issue':<32} {'handed over':>11} {'delivered':>9} {'bounces':>7} {'bounce %':>8} "
               f"{'complaints':>10} {'complaint %':>11} {'unsubscribes':>12}")
    flagged = False
    for issue_id in issue_ids:
        h = issue_health(ctx.store, issue_id)
        over = over_complaint_limit(settings, h)
        flagged |= over
        click.echo(f"{issue_id:<32} {h.handed_over:>11} {h.delivered:>9} {h.bounces:>7} "
                   f"{_percent(h.rate(h.bounces)):>8} {h.complaints:>10} "
                   f"{_percent(h.rate(h.complaints)):>11}{'!' if over else ' '} {h.unsubscribes:>11}")
    if flagged:
        click.echo(f"! complaint rate above {settings.complaint_pause_rate:.2%} "
                   f"(with at least {settings.complaint_pause_min} reports)")
