"""`digest lists schedule` and `digest issues`: when a list sends itself, and what it sent."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from digest.cli.base import Context, build_model, cli, pass_ctx
from digest.cli.lists import lists
from digest.errors import InvalidInput
from digest.models import Schedule

if TYPE_CHECKING:
    from digest.deliver.ledger import Ledger


@lists.command("schedule")
@click.argument("list_slug")
@click.option("--daily", "cadence", flag_value="daily", help="Every day.")
@click.option("--weekly", "weekday", default=None, metavar="DAY", help="Every week on DAY (monday ... sunday).")
@click.option("--monthly", "day", type=int, default=None, metavar="N",
              help="Every month on day N (29-31: the month's last day when shorter).")
@click.option("--at", "at", default=None, metavar="HH:MM", help="Local send time, in the list's time zone.")
@click.option("--timezone", "tz", default=None, help="The list's IANA time zone (e.g. Europe/Madrid).")
@click.option("--approval/--no-approval", default=None, help="Each issue waits for `digest issues approve`.")
@click.option("--approval-hours", type=float, default=None,
              help="Skip an unapproved issue this long after its slot (default 24).")
@click.option("--off", is_flag=True, help="No schedule: the list is sent by hand only.")
@click.option("--resume", is_flag=True, help="Run a paused schedule again.")
@pass_ctx
def lists_schedule(
    ctx: Context, list_slug: str, cadence: str | None, weekday: str | None, day: int | None, at: str | None,
    tz: str | None, approval: bool | None, approval_hours: float | None, off: bool, resume: bool,
) -> None:
    """Show or set when a list's issue goes out. Without options: show it and the next slot."""
    from digest.schedule import next_slot

    lst = ctx.store.get_list(list_slug)
    now = datetime.now(timezone.utc)
    if off:
        lst = lst.model_copy(update={"schedule": None})
    changes: dict[str, object] = {}
    if weekday is not None:
        changes.update(cadence="weekly", weekday=weekday)
    if day is not None:
        changes.update(cadence="monthly", day=day)
    if cadence:
        changes["cadence"] = cadence
    if len({k for k in ("weekday", "day") if k in changes} | ({"daily"} if cadence else set())) > 1:
        raise InvalidInput("choose one of --daily, --weekly DAY, --monthly N")
    for name, value in (("time", at), ("needs_approval", approval), ("approval_hours", approval_hours)):
        if value is not None:
            changes[name] = value
    if resume:
        changes["paused"] = ""
    update: dict[str, object] = {}
    if changes:
        base = lst.schedule.model_dump() if lst.schedule else {}
        if changes.keys() - {"paused"}:
            base["since"] = now  # a changed schedule starts now: no slot of the past is sent
        update["schedule"] = build_model(Schedule, **{**base, **changes})
    if tz:
        update["timezone"] = tz
    if update:  # validated as a whole (the time zone, too)
        lst = build_model(type(lst), **{**lst.model_dump(), **update})
    ctx.store.add_list(lst)
    if lst.schedule is None:
        click.echo(f"{list_slug}: no schedule (sent by hand: digest send now {list_slug})")
        return
    nxt = next_slot(lst.schedule, lst.timezone, now)
    local = nxt.astimezone(ZoneInfo(lst.timezone))
    click.echo(f"{list_slug}: {lst.schedule.describe()} ({lst.timezone}); "
               f"next {local:%a %Y-%m-%d %H:%M %Z} ({nxt:%H:%M} UTC)")


@cli.group()
def issues() -> None:
    """A list's issues: past, waiting for approval, skipped."""


@issues.command("ls")
@click.argument("list_slug")
@pass_ctx
def issues_ls(ctx: Context, list_slug: str) -> None:
    """Every issue of a list with its counts, and every skipped or waiting slot."""
    from digest.deliver.ledger import Ledger

    ctx.store.get_list(list_slug)
    ledger = Ledger(ctx.store)
    rows: list[tuple[float, str]] = []
    seen: set[str] = set()
    for slot, record in ctx.store.slots(list_slug).items():
        issue = record.get("issue") or f"{list_slug}-{slot}"
        when = record.get("slot", slot)[:16].replace("T", " ")
        line = f"{issue:<36} slot {when} UTC  {record['state']:<9}"
        if record["state"] == "waiting":
            line += f" {record.get('articles', '?')} new articles: digest issues approve {issue}"
        elif record.get("reason"):
            line += f" {record['reason']}"
        if record.get("issue") and ledger.meta(issue):
            seen.add(issue)
            line += "  " + _counts(ledger, issue)
        rows.append((float(record.get("at", 0)), line))
    for issue in ledger.issues(list_slug):
        if issue in seen:
            continue
        meta = ledger.meta(issue)
        created = datetime.fromtimestamp(float(meta.get("created", 0)), timezone.utc)
        rows.append((float(meta.get("created", 0)),
                     f"{issue:<36} sent {created:%Y-%m-%d %H:%M} UTC  {'by hand':<9}  {_counts(ledger, issue)}"))
    if not rows:
        click.echo(f"{list_slug}: no issues yet")
    for _, line in sorted(rows):
        click.echo(line)


def _counts(ledger: Ledger, issue: str) -> str:
    status = ledger.status(issue)
    c = status.counts
    return (f"{status.meta.get('status', '?')}: {c.get('accepted', 0)} handed over, {c.get('suppressed', 0)} "
            f"suppressed, {c.get('failed', 0)} failed of {c.get('planned', 0)}")


@issues.command("approve")
@click.argument("issue_id")
@click.option("--here", is_flag=True, help="Send from this process instead of the Celery workers.")
@click.option("--no-wait", is_flag=True, help="Queue the batches and return.")
@pass_ctx
def issues_approve(ctx: Context, issue_id: str, here: bool, no_wait: bool) -> None:
    """Approve an issue waiting for approval: it is planned with what is new now, and sent."""
    from digest.cli.send import exit_unless_settled, print_issue_status, wait_for_issue
    from digest.deliver import make_sender
    from digest.deliver.send import send_inline
    from digest.dispatch import approve

    result = approve(ctx.store, ctx.settings, issue_id, datetime.now(timezone.utc))
    if getattr(result, "state", "sending") != "sending":
        raise InvalidInput(f"issue {issue_id} was not sent: {result.reason}")  # type: ignore[union-attr]
    click.echo(f"issue {issue_id} approved")
    if here:
        send_inline(ctx.store, ctx.settings, make_sender(ctx.settings), issue_id)
    else:
        from digest.tasks import enqueue_batches

        enqueue_batches(issue_id)
        if no_wait:
            return
        wait_for_issue(ctx, issue_id)
    exit_unless_settled(print_issue_status(ctx, issue_id), issue_id)
