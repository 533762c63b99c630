"""`digest`: the command line for editors and ops.

Every command reads the settings once, talks to Redis through the Store, and
turns a DigestError into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import csv
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import redis
from pydantic import ValidationError

from digest.config import Settings, load_settings
from digest.errors import DigestError, InvalidInput
from digest.models import DigestList, Feed, Subscriber, Topic
from digest.store import Store

F = TypeVar("F", bound=Callable[..., Any])


class Context:
    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._store: Store | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    @property
    def store(self) -> Store:
        if self._store is None:
            url = self.settings.redis_url or "redis://127.0.0.1:6379/0"
            store = Store.from_url(url, self.settings.redis_prefix)
            try:
                store.r.ping()
            except (redis.RedisError, OSError) as exc:
                raise DigestError(f"no Redis answers at REDIS_URL={url}: {exc}") from None
            self._store = store
        return self._store


pass_ctx = click.make_pass_decorator(Context, ensure=True)


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").replace(";", ",").split(",") if v.strip()]


def _model(cls: type, **fields: Any) -> Any:
    """Build a model, turning pydantic's report into a one-line InvalidInput."""
    try:
        return cls(**fields)
    except ValidationError as exc:
        msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"invalid {cls.__name__.lower()}: {msg}") from None


@click.group()
def cli() -> None:
    """digest: feeds in, one well-grouped email out."""


# -- feeds ---------------------------------------------------------------------


@cli.group()
def feeds() -> None:
    """Add, list and remove feeds."""


@feeds.command("add")
@click.argument("feed_id")
@click.argument("url")
@click.option("--name", default="", help="Source name shown in the digest (default: the feed's title).")
@pass_ctx
def feeds_add(ctx: Context, feed_id: str, url: str, name: str) -> None:
    ctx.store.add_feed(_model(Feed, id=feed_id, url=url, name=name))
    click.echo(f"feed {feed_id} added")


@feeds.command("ls")
@pass_ctx
def feeds_ls(ctx: Context) -> None:
    for feed in ctx.store.feeds():
        state = ctx.store.feed_state(feed.id)
        health = f"error x{state.error_count}: {state.error}" if state.error else "ok"
        last = state.last_ok_at.isoformat(timespec="minutes") if state.last_ok_at else "never"
        click.echo(f"{feed.id}\t{feed.url}\tlast ok {last}\t{health}")


@feeds.command("rm")
@click.argument("feed_id")
@pass_ctx
def feeds_rm(ctx: Context, feed_id: str) -> None:
    ctx.store.remove_feed(feed_id)
    click.echo(f"feed {feed_id} removed")


# -- topics --------------------------------------------------------------------


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
    ctx.store.add_topic(_model(Topic, slug=slug, name=name, keywords=_split(keywords), description=description))
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


# -- lists ---------------------------------------------------------------------


@cli.group()
def lists() -> None:
    """Mailing lists: who they are from, their language, their topics."""


@lists.command("add")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--from-email", required=True)
@click.option("--from-name", default="")
@click.option("--reply-to", default=None)
@click.option("--locale", default="en", show_default=True)
@click.option("--timezone", "tz", default="UTC", show_default=True)
@click.option("--description", default="", help="Why readers get it, shown in the footer.")
@click.option("--topics", "topic_slugs", default="", help="Comma-separated, in order (default: all).")
@click.option("--feeds", "feed_ids", default="", help="Comma-separated (default: all).")
@pass_ctx
def lists_add(ctx: Context, slug: str, topic_slugs: str, feed_ids: str, **fields: Any) -> None:
    for topic in _split(topic_slugs):
        ctx.store.get_topic(topic)
    for feed in _split(feed_ids):
        ctx.store.get_feed(feed)
    fields["timezone"] = fields.pop("tz")
    ctx.store.add_list(_model(DigestList, slug=slug, topics=_split(topic_slugs), feeds=_split(feed_ids), **fields))
    click.echo(f"list {slug} saved")


@lists.command("ls")
@pass_ctx
def lists_ls(ctx: Context) -> None:
    for lst in ctx.store.lists():
        count = ctx.store.subscriber_count(lst.slug)
        click.echo(f"{lst.slug}\t{lst.name}\t{lst.locale}\t{count} active subscribers")


# -- subscribers ---------------------------------------------------------------


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
        list_slug, Subscriber(email=email, name=name, topics=_split(topic_slugs) or None)
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
                topics=_split(row.get("topics")) or None,
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


# -- collect, preview, send ----------------------------------------------------


@cli.command()
@click.option("--feed", "feed_id", default=None, help="Only this feed (default: every feed).")
@pass_ctx
def collect(ctx: Context, feed_id: str | None) -> None:
    """Collect new articles now, in this process (ignoring backoff)."""
    from digest.collect.collector import collect_all, collect_feed

    if feed_id:
        results = [collect_feed(ctx.store, ctx.settings, feed_id, force=True)]
    else:
        results = collect_all(ctx.store, ctx.settings, force=True)
    failed = 0
    for result in results:
        fid = result.feed_id
        if result.error:
            failed += 1
            click.echo(f"{fid}: error: {result.error}", err=True)
        elif result.not_modified:
            click.echo(f"{fid}: not modified")
        else:
            click.echo(f"{fid}: {result.new} new, {result.duplicates} duplicates")
    if failed:
        sys.exit(1)


@cli.command()
@click.argument("list_slug")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--topics", "topic_slugs", default="", help="Preview the variant for these topics.")
@click.option("--text", is_flag=True, help="Write the plain-text part instead of the HTML.")
@pass_ctx
def preview(ctx: Context, list_slug: str, output: Path, topic_slugs: str, text: bool) -> None:
    """Write a list's next issue to a file, exactly as it will be sent."""
    from digest.issue import next_issue
    from digest.links import preview_token
    from digest.render import personalize

    content, rendered = next_issue(ctx.store, ctx.settings, list_slug)
    variant = rendered.assemble(set(_split(topic_slugs)) or None)
    if variant is None:
        raise InvalidInput(f"none of the topics {topic_slugs!r} has articles in this issue")
    sample = rendered.reader_values(preview_token(ctx.settings, list_slug), "")
    output.write_text(personalize(variant[1] if text else variant[0], sample), encoding="utf-8")
    count = sum(len(s.articles) for s in content.sections)
    click.echo(f"{rendered.subject_for(set(_split(topic_slugs)) or None)}\n{count} articles -> {output}")


@cli.group()
def send() -> None:
    """Send an issue, follow it, resolve what a crash left unconfirmed."""


@send.command("now")
@click.argument("list_slug")
@click.option("--here", is_flag=True, help="Send from this process instead of the Celery workers.")
@click.option("--no-wait", is_flag=True, help="Queue the batches and return.")
@pass_ctx
def send_now(ctx: Context, list_slug: str, here: bool, no_wait: bool) -> None:
    """Send a list's next issue now and wait until it is handed over."""
    from digest.deliver import make_sender
    from digest.deliver.send import prepare_issue, send_inline

    plan = prepare_issue(ctx.store, ctx.settings, list_slug)
    click.echo(f"issue {plan.issue_id}: {plan.recipients} recipients in {len(plan.batches)} batches")
    if here:
        send_inline(ctx.store, ctx.settings, make_sender(ctx.settings), plan.issue_id)
    else:
        from digest.tasks import enqueue_batches

        enqueue_batches(plan.issue_id)
        if no_wait:
            return
        _wait(ctx, plan.issue_id)
    _print_status(ctx, plan.issue_id)


def _wait(ctx: Context, issue_id: str, poll: float = 0.5) -> None:
    from digest.deliver.ledger import Ledger

    ledger = Ledger(ctx.store)
    last, since = "", time.monotonic()
    while not (status := ledger.status(issue_id)).finished:
        line = " ".join(f"{k}={v}" for k, v in sorted(status.states.items()))
        if line != last:
            click.echo(f"  {line}", err=True)
            last, since = line, time.monotonic()
        elif time.monotonic() - since > 30:
            click.echo("  no batch has moved for 30 s: is a worker consuming the 'send' queue? "
                       "(celery -A digest.celery_app worker -Q send, or send with --here)", err=True)
            since = time.monotonic()
        time.sleep(poll)
    ledger.mark_done_if_finished(issue_id)


def _print_status(ctx: Context, issue_id: str) -> None:
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
        click.echo(f"  resolve each: digest send resolve {issue_id} BATCH --resend | --mark-sent")


@send.command("status")
@click.argument("issue_id", required=False)
@click.option("--list", "list_slug", default=None, help="Show this list's issues.")
@pass_ctx
def send_status(ctx: Context, issue_id: str | None, list_slug: str | None) -> None:
    """An issue's batches: handed over, failed, unconfirmed."""
    from digest.deliver.ledger import Ledger

    if issue_id:
        _print_status(ctx, issue_id)
        return
    slugs = [list_slug] if list_slug else [lst.slug for lst in ctx.store.lists()]
    for slug in slugs:
        for issue in Ledger(ctx.store).issues(slug)[-5:]:
            _print_status(ctx, issue)


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
    result = Ledger(ctx.store).resolve(issue_id, batch_id, resend=action == "resend")
    click.echo(f"batch {batch_id}: {result}")
    if result == "resend":
        click.echo(f"queue it with: digest send resume {issue_id}")


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
        _wait(ctx, issue_id)
    _print_status(ctx, issue_id)


@cli.command()
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=Path("var/demo"))
def demo(output: Path) -> None:
    """Collect the bundled sample feeds, build and 'send' a digest to the outbox."""
    from digest.demo import run_demo

    run_demo(output)


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DigestError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
