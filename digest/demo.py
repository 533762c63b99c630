"""`digest demo`: the whole job on a machine with nothing but Python.

Starts a Redis if none answers, serves the bundled sample feeds from loopback,
collects them, builds two lists' issues (English and Spanish), "sends" them to
the file outbox and writes an HTML preview. Its data lives under its own key
prefix, so it never touches a real installation's lists.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click

from digest.collect.collector import collect_feed
from digest.config import LOOPBACK_NETWORKS, load_settings
from digest.deliver.outbox import OutboxSender
from digest.deliver.send import prepare_issue, send_inline
from digest.links import preview_token
from digest.models import DigestList, Feed, Subscriber
from digest.redis_server import ensure_redis
from digest.render import personalize
from digest.store import Store
from digest.topics.files import read_topics

SAMPLES = Path(__file__).parent / "samples"
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


_DATE = re.compile(r"\{\{(ago|iso):(\d+)([hd])\}\}")
TYPES = {".xml": "application/rss+xml", ".atom": "application/atom+xml", ".json": "application/feed+json"}


def fill_dates(text: str, now: datetime) -> str:
    """Sample feeds carry {{ago:20h}} (RFC 822) and {{iso:2d}} (RFC 3339) so they are always fresh."""
    def when(m: re.Match[str]) -> str:
        moment = now - timedelta(**{"hours" if m.group(3) == "h" else "days": int(m.group(2))})
        return format_datetime(moment) if m.group(1) == "ago" else moment.isoformat(timespec="seconds")
    return _DATE.sub(when, text)


class _SampleHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = SAMPLES / "feeds" / self.path.lstrip("/").split("?")[0]
        if path.parent != SAMPLES / "feeds" or not path.is_file():
            self.send_error(404)
            return
        body = fill_dates(path.read_text(encoding="utf-8"), datetime.now(timezone.utc)).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", TYPES.get(path.suffix, "application/octet-stream"))
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


def seed(store: Store, feeds_base: str) -> None:
    for feed_id, (file_name, name) in FEEDS.items():
        store.add_feed(Feed(id=feed_id, url=f"{feeds_base}/{file_name}", name=name))
    store.add_list(DigestList(
        slug="weekly", name="The Weekly Planet", from_email="digest@planet.example",
        from_name="The Weekly Planet", description="You subscribed to The Weekly Planet at planet.example.",
        topics=read_topics(SAMPLES / "topics" / "weekly.toml")[0],
    ))
    store.add_list(DigestList(
        slug="semanal", name="El Planeta Semanal", from_email="digest@planet.example", locale="es",
        timezone="Europe/Madrid", description="Te suscribiste a El Planeta Semanal en planet.example.",
        topics=read_topics(SAMPLES / "topics" / "semanal.toml")[0],
    ))
    for list_slug, email, name, topics in SUBSCRIBERS:
        store.add_subscriber(list_slug, Subscriber(email=email, name=name, topics=topics))


def run_demo(output: Path) -> None:
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

    with serve_samples() as feeds_base:
        seed(store, feeds_base)
        for feed in store.feeds():
            result = collect_feed(store, settings, feed.id, force=True)
            click.echo(f"collected {feed.name}: {result.new} new articles"
                       + (f", {result.duplicates} duplicates" if result.duplicates else "")
                       + (f" (error: {result.error})" if result.error else ""))

    sender = OutboxSender(outbox)  # the demo never mails its example.com readers
    output.mkdir(parents=True, exist_ok=True)
    for lst in store.lists():
        plan = prepare_issue(store, settings, lst.slug)
        send_inline(store, settings, sender, plan.issue_id)
        html, _text = plan.rendered.assemble(None) or ("", "")
        preview = output / f"preview-{lst.slug}.html"
        sample = plan.rendered.reader_values(preview_token(settings, lst.slug), "")
        preview.write_text(personalize(html, sample), encoding="utf-8")
        sections = ", ".join(f"{s.name} ({len(s.articles)})" for s in plan.content.sections)
        click.echo(f"\n{lst.name} [{lst.locale}] — {plan.rendered.subject}\n  sections: {sections}")
        click.echo(f"  sent to {plan.recipients} subscribers -> {outbox / plan.issue_id}/")
        click.echo(f"  preview: {preview}")
    click.echo("\nOpen the .eml files with any mail client, or the previews in a browser.")
