"""`digest demo`: the whole job on a machine with nothing but Python.

Starts a Redis if none answers, serves the bundled sample feeds from loopback,
collects them, builds two lists' issues (English and Spanish), "sends" them to
the file outbox and writes an HTML preview. Its data lives under its own key
prefix, so it never touches a real installation's lists.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from digest import dispatch
from digest.collect.collector import collect_feed
from digest.config import LOOPBACK_NETWORKS, Settings, load_settings
from digest.deliver.ledger import Ledger
from digest.deliver.outbox import OutboxSender
from digest.deliver.send import send_inline
from digest.links import preview_token
from digest.models import DigestList, Feed, Schedule, Subscriber
from digest.redis_server import ensure_redis
from digest.render import RenderedIssue, personalize
from digest.samples import SAMPLES, sample_feed
from digest.store import Store
from digest.subscribe import request_subscription
from digest.topics.files import read_topics

FEEDS = {
    "planet-wire": ("planet-wire.xml", "Planet Wire"),
    "orbital-times": ("orbital-times.atom", "Orbital Times"),
    "market-brief": ("market-brief.json", "Market Brief"),
}
SUBSCRIBERS = [
    ("weekly", "alice@example.com", "Alice", None),
    ("weekly", "bob@example.com", "Bob", ["space", "climate"]),
    ("weekly", "dana@example.com", "Dana", ["markets"]),
    ("semanal", "carla@example.com", "Carla", None),
]


class _SampleHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        try:
            body, content_type = sample_feed(self.path.lstrip("/").split("?")[0], datetime.now(timezone.utc))
        except ValueError:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def serve_samples() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SampleHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def seed(store: Store, feeds_base: str, now: datetime) -> None:
    """The sample feeds, two lists whose daily issue is due this very minute (each in its
    own time zone), and readers who already consented (imported: single opt-in, recorded)."""
    for feed_id, (file_name, name) in FEEDS.items():
        store.add_feed(Feed(id=feed_id, url=f"{feeds_base}/{file_name}", name=name))
    for slug, name, locale, tz, description in [
        ("weekly", "The Weekly Planet", "en", "UTC", "You subscribed to The Weekly Planet at planet.example."),
        ("semanal", "El Planeta Semanal", "es", "Europe/Madrid",
         "Te suscribiste a El Planeta Semanal en planet.example."),
    ]:
        due = Schedule(cadence="daily", time=f"{now.astimezone(ZoneInfo(tz)):%H:%M}", since=now - timedelta(hours=1))
        store.add_list(DigestList(
            slug=slug, name=name, from_email="digest@planet.example", from_name=name, locale=locale, timezone=tz,
            description=description, topics=read_topics(SAMPLES / "topics" / f"{slug}.toml")[0], schedule=due,
            opt_in="single", postal_address="Planet Media, 1 Orbit Road, Springfield, IL 62701, USA",
        ))
    for list_slug, email, name, topics in SUBSCRIBERS:
        store.add_subscriber(list_slug, Subscriber(email=email, name=name, topics=topics, source="import",
                                                   consent="single-opt-in", confirmed_at=now))


def run_demo(output: Path, *, serve: bool = False) -> None:
    """The whole job once; with `serve`, then keep it running for a newcomer to click
    through (digest/demo_serve.py): web, worker and beat on loopback, until Ctrl-C."""
    settings = load_settings()
    url, server = ensure_redis(settings.redis_url, output)
    if server:
        click.echo(f"started {Path(server.process.args[0]).name if server.process else 'redis'} at {url}")
    outbox = output / "outbox"
    settings = load_settings(
        redis_url=url, redis_prefix=f"{settings.redis_prefix}-demo", outbox_dir=outbox,
        # The demo's links are for its own example.com readers: a key of its own, made now.
        secret_key=settings.secret_key.get_secret_value() if settings.secret_key else secrets.token_urlsafe(32),
        fetch_allow_networks=LOOPBACK_NETWORKS,  # its sample feeds are served from loopback
    )
    store = Store.from_url(url, settings.redis_prefix)
    for key in store.r.scan_iter(f"{settings.redis_prefix}:*"):
        store.r.delete(key)  # the demo starts from scratch every time

    now = datetime.now(timezone.utc)
    with serve_samples() as feeds_base:
        seed(store, feeds_base, now)
        for feed in store.feeds():
            result = collect_feed(store, settings, feed.id, force=True)
            click.echo(f"collected {feed.name}: {result.new} new articles"
                       + (f", {result.duplicates} duplicates" if result.duplicates else "")
                       + (f" (error: {result.error})" if result.error else ""))
        _send_due_issues(store, settings, output, outbox, now)
        if serve:
            from digest.demo_serve import serve_demo

            serve_demo(settings, store, output)


def _send_due_issues(store: Store, settings: Settings, output: Path, outbox: Path, now: datetime) -> None:
    """Both lists are due now: the beat's own tick sends them (inline), then a sign-up."""
    sender = OutboxSender(outbox)  # the demo never mails its example.com readers
    output.mkdir(parents=True, exist_ok=True)

    def start(list_slug: str, slot: str) -> None:
        """What the beat's start_slot task does in a worker, done here."""
        started = dispatch.start_slot(store, settings, list_slug, slot, now)
        if started.state != dispatch.SENDING or not started.issue_id:
            click.echo(f"\n{list_slug}: slot {slot} {started.state} {started.reason}")
            return
        send_inline(store, settings, sender, started.issue_id)
        rendered = RenderedIssue.from_json(Ledger(store).rendered_json(started.issue_id) or "{}")
        lst = store.get_list(list_slug)
        html, _text = rendered.assemble(None) or ("", "")
        preview = output / f"preview-{lst.slug}.html"
        preview.write_text(personalize(html, rendered.reader_values(preview_token(settings, lst.slug), "")),
                           encoding="utf-8")
        counts = Ledger(store).status(started.issue_id).counts
        click.echo(f"\n{lst.name} [{lst.locale}, {lst.schedule.describe() if lst.schedule else ''} "
                   f"{lst.timezone}] — {rendered.subject}")
        sent = counts.get("accepted", 0)
        click.echo(f"  scheduled issue {started.issue_id}: sent to {sent} subscriber{'' if sent == 1 else 's'} "
                   f"-> {outbox / started.issue_id}/")
        click.echo(f"  preview: {preview}")

    # The beat's own tick, now: both lists are due, each slot is started once ...
    click.echo(f"\nbeat tick at {now:%H:%M} UTC: both lists' daily issue is due")
    started = dispatch.tick(store, settings, now, start)
    # ... and a second tick a minute later finds nothing to start.
    again = dispatch.tick(store, settings, now + timedelta(minutes=1), start)
    click.echo(f"\nbeat tick: started {', '.join(started) or 'nothing'}; the next tick started "
               f"{', '.join(again) or 'nothing'} (each slot makes one issue)")
    # Someone signs up on the form: double opt-in, the confirmation waits in the outbox.
    request_subscription(store, settings, sender, "weekly", "erin@example.com", "Erin", source="form", ip="127.0.0.1")
    click.echo(f"erin@example.com asked to join weekly: {store.get_subscriber('weekly', 'erin@example.com').status}, "
               f"confirmation email in {outbox / 'mail'}/")
    click.echo("\nOpen the .eml files with any mail client, or the previews in a browser.")
