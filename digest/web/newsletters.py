"""The newsletter inbound endpoint: SendGrid Inbound Parse posts each mail sent to a newsletter feed.

    POST NEWSLETTER_INBOUND_PATH/<secret>   NEWSLETTER_INBOUND_SECRET in the URL, compared in
                                            constant time; 404 otherwise, and 404 when it is unset

What the message becomes is digest.collect.newsletter's decision. Once the
secret matched, the answer is always 200 with a one-line outcome (SendGrid
retries anything else for days). The multipart body is read here, not by
Werkzeug's form parser: SendGrid passes each field in the message's own
character set and names it in its `charsets` field, which Werkzeug would ignore.
"""

from __future__ import annotations

import hmac
import json
import logging
from datetime import datetime, timezone
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP

from flask import Blueprint, Response, abort, request
from werkzeug.exceptions import RequestEntityTooLarge

from digest.collect.encoding import decode_labelled
from digest.collect.newsletter import receive_newsletter
from digest.config import Settings
from digest.web.shared import shared

log = logging.getLogger(__name__)

NEWSLETTER_MAX_BYTES = 20 * 1024 * 1024  # a newsletter with its images inline, and a margin
FIELDS = ("from", "to", "cc", "subject", "html", "text", "envelope", "SPF", "dkim", "charsets")


def make_blueprint(settings: Settings) -> Blueprint:
    blueprint = Blueprint("newsletters", __name__)
    if settings.newsletter_inbound_secret is None:
        return blueprint
    secret = settings.newsletter_inbound_secret.get_secret_value().encode()

    @blueprint.post(f"{settings.newsletter_inbound_path}/<given>")
    def newsletter_inbound(given: str) -> Response:
        if not hmac.compare_digest(given.encode(), secret):
            abort(404)
        request.max_content_length = NEWSLETTER_MAX_BYTES  # the app's own cap is for small forms
        try:
            body = request.get_data(cache=False)
        except RequestEntityTooLarge:
            outcome = f"ignored: over the {NEWSLETTER_MAX_BYTES}-byte cap"
        else:
            app = shared()
            fields = inbound_fields(request.content_type or "", body)
            outcome = receive_newsletter(app.store, app.settings, fields, datetime.now(timezone.utc))
        log.info("newsletter inbound: %s", outcome)
        return Response(outcome + "\n", mimetype="text/plain")

    return blueprint


def inbound_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The text fields of a multipart/form-data body, each decoded by the charset `charsets` names."""
    if not content_type.lower().startswith("multipart/form-data") or not content_type.isascii():
        return {}
    head = f"Content-Type: {' '.join(content_type.split())}\r\nMIME-Version: 1.0\r\n\r\n".encode("ascii")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    raw: dict[str, bytes] = {}
    if isinstance(message, EmailMessage) and message.is_multipart():
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str) or name not in FIELDS or name in raw or part.get_filename():
                continue  # attachments, and fields nothing here reads
            payload = part.get_payload(decode=True)
            raw[name] = payload if isinstance(payload, bytes) else b""
    try:
        charsets = json.loads(raw.get("charsets", b"{}").decode("utf-8", "replace"))
    except ValueError:
        charsets = {}
    charsets = charsets if isinstance(charsets, dict) else {}
    fields = {}
    for name, data in raw.items():
        label = charsets.get(name)
        fields[name] = decode_labelled(data, label if isinstance(label, str) else None)
    return fields
