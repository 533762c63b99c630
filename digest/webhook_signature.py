"""SendGrid's Event Webhook signature: its verification key and the check of one request.

SendGrid signs the `X-Twilio-Email-Event-Webhook-Timestamp` header's value
followed by the raw body with ECDSA P-256 over SHA-256 and sends the DER
signature, base64, in `X-Twilio-Email-Event-Webhook-Signature`. Kept apart from
digest.events (what the events do) so the settings can check a configured key
without importing the event rules.
"""

from __future__ import annotations

import base64
import binascii
import re
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from digest.errors import DigestError

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


class SignatureRefused(DigestError):
    """A webhook request that SendGrid did not sign as it stands (answered 403)."""


def load_public_key(text: str) -> ec.EllipticCurvePublicKey:
    """SendGrid's verification key: base64 DER SubjectPublicKeyInfo (PEM armour also taken)."""
    body = re.sub(r"-----(BEGIN|END) PUBLIC KEY-----|\s", "", text)
    try:
        key = serialization.load_der_public_key(base64.b64decode(body, validate=True))
    except (ValueError, binascii.Error, TypeError):
        raise ValueError("is not a base64 DER public key (copy SendGrid's verification key whole)") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("is not an ECDSA P-256 public key, which SendGrid signs with")
    return key


def verify(key: ec.EllipticCurvePublicKey, signature: str | None, timestamp: str | None, body: bytes,
           tolerance: int, now: float | None = None) -> None:
    """Raise SignatureRefused unless SendGrid signed `timestamp + body` within `tolerance` s of now."""
    if not signature or not timestamp:
        raise SignatureRefused(f"missing {SIGNATURE_HEADER if not signature else TIMESTAMP_HEADER}")
    if not re.fullmatch(r"\d{1,12}", timestamp):
        raise SignatureRefused("timestamp is not Unix seconds")
    if abs((now if now is not None else time.time()) - int(timestamp)) > tolerance:
        raise SignatureRefused(f"timestamp is more than {tolerance} s from now (stale or replayed)")
    try:
        der = base64.b64decode(signature, validate=True)
        key.verify(der, timestamp.encode("ascii") + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, binascii.Error):
        raise SignatureRefused("signature does not match the body") from None
