"""Delivery: the Sender seam, its SendGrid and outbox implementations, and the
batch ledger that makes a send exactly-once per subscriber and issue."""

from __future__ import annotations

from digest.config import Settings
from digest.deliver.base import Sender


def make_sender(settings: Settings) -> Sender:
    """SendGrid when an API key is set, else the file outbox."""
    if settings.sendgrid_api_key is not None:
        from digest.deliver.sendgrid import SendGridSender

        return SendGridSender(
            settings.sendgrid_api_key.get_secret_value(),
            host=settings.sendgrid_api_host,
            timeout=settings.sendgrid_timeout,
            click_tracking=settings.sendgrid_click_tracking,
            open_tracking=settings.sendgrid_open_tracking,
        )
    from digest.deliver.outbox import OutboxSender

    return OutboxSender(settings.outbox_dir)
