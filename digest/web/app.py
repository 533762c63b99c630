"""The Flask app factory: one blueprint per audience, each with its own access rule.

    public   (digest.web.public)   readers' own pages: unsubscribe, preferences (a signed token is the credential)
    archive  (digest.web.archive)  sent issues, rendered for no reader (open to all)
    signup   (digest.web.signup)   subscribe (open, rate-limited, honeypot), confirm (a signed expiring link)
    auth     (digest.web.auth)     editors sign in and out (/login, /logout); sessions, CSRF, the editors' rule
    editors  (digest.web.editors)  the dashboard, list pages, audit log; signed-in editors, their lists
    review   (digest.web.review)   preview, preflight, approval, test sends; the same rule as editors
    corrections (digest.web.corrections) editors correct the next issue (/lists/<list>/edit); the same rule
    manage, subscribers_admin (digest.web.*) a list's topics and subscribers; the same rule
    feeds_admin (digest.web.feeds_admin) /feeds, shared by every list: admins only (404 to editors)
    machine  (digest.web.machine)  /healthz for load balancers
    webhooks (digest.web.webhooks) SendGrid's signed events and Inbound Parse; a signature, a URL secret
    newsletters (digest.web.newsletters) newsletters mailed to a feed, via Inbound Parse; a URL secret

What the blueprints share (the store, the signer, error pages, security headers)
is set up here once; `create_app` refuses to start without a real SECRET_KEY.
"""

from __future__ import annotations

from flask import Flask, Response, g
from werkzeug.exceptions import HTTPException

from digest.config import Settings, load_settings
from digest.errors import ConfigError, InvalidInput, NotFound
from digest.links import TokenSigner
from digest.store import Store
from digest.web import (
    archive,
    auth,
    corrections,
    editors,
    feeds_admin,
    machine,
    manage,
    newsletters,
    public,
    review,
    signup,
    subscribers_admin,
    webhooks,
)
from digest.web.shared import SECURITY_HEADERS, Shared, mask_email, message_page

# Browsers that once reached us over https never fall back to plain http (which
# would show a reader's token to the network). Sent only when BASE_URL is https.
HSTS = "max-age=31536000; includeSubDomains"
OWN_HEADERS = ("Content-Security-Policy", "Cache-Control")  # a view may set its own (after_request keeps them)
MAX_FORM_BYTES = 64 * 1024  # a topic form is a few hundred bytes; a CSV import takes more (web/subscribers_admin.py)


def create_app(settings: Settings | None = None) -> Flask:
    try:  # gunicorn starting with a bad setting says which, not a traceback
        settings = settings or load_settings()
        settings.require_secret_key()  # refuse to start rather than sign with a guessable key
    except ConfigError as exc:
        raise SystemExit(f"digest: {exc}") from None
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_FORM_BYTES
    app.extensions["digest"] = Shared(
        settings, Store.from_url(settings.redis_url or "redis://127.0.0.1:6379/0", settings.redis_prefix),
        TokenSigner(settings),
    )
    headers = dict(SECURITY_HEADERS)
    if settings.base_url.startswith("https://"):
        headers["Strict-Transport-Security"] = HSTS

    @app.after_request
    def secure(response: Response) -> Response:
        # A view's own CSP (the review page and its frames, web/review.py) and Cache-Control
        # (the archive's feed, which names no reader: web/archive.py) stand.
        own = {name: response.headers[name] for name in OWN_HEADERS if name in response.headers}
        response.headers.update(headers)
        response.headers.update(own)
        return response

    @app.errorhandler(NotFound)
    def not_found(exc: NotFound) -> tuple[str, int]:
        lst = g.get("lst")
        if exc.kind == "subscriber" and lst is not None:  # a reader removed since the email went out
            text = g.gettext("%(email)s is not subscribed to this newsletter.", email=mask_email(exc.key))
            return message_page(lst.name, text, lst=lst), 404
        return error_page("Not found", str(exc)), 404

    @app.errorhandler(InvalidInput)
    def invalid(exc: InvalidInput) -> tuple[str, int]:
        return error_page("Invalid link", str(exc)), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        response = exc.get_response()
        response.set_data(error_page(exc.name, exc.description or ""))
        response.mimetype = "text/html"
        return response

    def error_page(title: str, message: str) -> str:
        """A signed-in editor's error keeps the editors' navigation; anyone else's is the plain page."""
        if g.get("account") is not None:
            return auth.editor_page("editor/message.html", title=title, message=message)[0]
        return message_page(title, message)

    app.register_blueprint(public.blueprint)
    app.register_blueprint(archive.blueprint)
    app.register_blueprint(signup.blueprint)
    app.register_blueprint(auth.blueprint)
    app.register_blueprint(editors.blueprint)
    app.register_blueprint(corrections.blueprint)
    app.register_blueprint(review.blueprint)
    app.register_blueprint(manage.blueprint)
    app.register_blueprint(subscribers_admin.blueprint)
    app.register_blueprint(feeds_admin.blueprint)
    app.register_blueprint(machine.blueprint)
    app.register_blueprint(webhooks.make_blueprint(settings))
    app.register_blueprint(newsletters.make_blueprint(settings))
    return app
