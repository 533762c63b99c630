"""SendGrid's calls: the signed Event Webhook and Inbound Parse (the mailto unsubscribe).

Each endpoint exists only when its credential is configured, and each has its own rule:

    POST SENDGRID_WEBHOOK_PATH     SENDGRID_WEBHOOK_PUBLIC_KEY: SendGrid's ECDSA signature over the
                                   timestamp header and the raw body (digest.events.verify); 403 otherwise
    POST INBOUND_PARSE_PATH/<s>    INBOUND_PARSE_SECRET in the URL, compared in constant time; 404 otherwise

Both answer fast. Events are verified here and applied by a worker (task
digest.apply_events, queue "celery"): SendGrid waits a few seconds at most and
retries what is not answered 2xx. An unsubscribe mail is a Redis write or two,
done inline; it is always answered 200 once the secret matched, or SendGrid
would send it again for days.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from flask import Blueprint, Response, abort, request
from werkzeug.exceptions import RequestEntityTooLarge

from digest.config import Settings
from digest.inbound import handle_unsubscribe_mail
from digest.web.shared import shared
from digest.webhook_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureRefused, load_public_key, verify

log = logging.getLogger(__name__)

APPLY_EVENTS_TASK = "digest.apply_events"
# An unsubscribe mail is a few kilobytes; a reply quoting a whole digest with images, more.
INBOUND_MAX_BYTES = 10 * 1024 * 1024
INBOUND_FIELD_BYTES = 2 * 1024 * 1024  # the text and html fields


def make_blueprint(settings: Settings) -> Blueprint:
    """The endpoints this configuration enables, at the paths it names."""
    blueprint = Blueprint("webhooks", __name__)
    if settings.sendgrid_webhook_public_key:
        key = load_public_key(settings.sendgrid_webhook_public_key)
        queue = EventQueue(settings)

        @blueprint.post(settings.sendgrid_webhook_path)
        def sendgrid_events() -> tuple[dict[str, str], int]:
            request.max_content_length = settings.sendgrid_webhook_max_bytes  # 413 past it
            body = request.get_data(cache=False)
            try:
                verify(key, request.headers.get(SIGNATURE_HEADER), request.headers.get(TIMESTAMP_HEADER), body,
                       settings.sendgrid_webhook_tolerance)
            except SignatureRefused as exc:
                log.warning("event webhook refused from %s: %s", request.remote_addr, exc)
                return {"error": str(exc)}, 403
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                log.warning("event webhook: a signed body that is not UTF-8, dropped")
                return {"status": "dropped: not UTF-8"}, 200
            queue.put(text)
            return {"status": "queued"}, 202

    if settings.inbound_parse_secret:
        secret = settings.inbound_parse_secret.get_secret_value().encode()

        @blueprint.post(f"{settings.inbound_parse_path}/<given>")
        def inbound_parse(given: str) -> Response:
            if not hmac.compare_digest(given.encode(), secret):
                abort(404)
            request.max_content_length = INBOUND_MAX_BYTES
            request.max_form_memory_size = INBOUND_FIELD_BYTES
            try:
                form = {k: request.form.get(k, "") for k in ("from", "to", "cc", "subject", "envelope",
                                                              "SPF", "dkim")}
            except RequestEntityTooLarge:
                outcome = "ignored: message too large"
            else:
                app = shared()
                outcome = handle_unsubscribe_mail(app.store, app.signer, form)
            log.info("inbound parse: %s", outcome)
            return Response(outcome + "\n", mimetype="text/plain")

    return blueprint


class EventQueue:
    """Hands a verified body to the workers, through the broker this configuration names."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._celery: Any = None

    def put(self, body: str) -> None:
        if self._celery is None:
            from digest.celery_app import make_celery  # the web process needs Celery only to send

            self._celery = make_celery(self.settings)
        self._celery.send_task(APPLY_EVENTS_TASK, args=[body], queue="celery")
