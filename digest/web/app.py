"""Flask app factory and views. Each view reads a signed token or a list slug,
calls the Store, and renders a small page in the list's language."""

from __future__ import annotations

from typing import Any

import redis
from flask import Flask, Response, abort, g, render_template, request

from digest.config import Settings, load_settings
from digest.errors import InvalidInput, NotFound
from digest.issue import next_issue
from digest.links import SAMPLE_READER, TokenSigner
from digest.models import MORE_NEWS, Subscriber
from digest.render import personalize, translations
from digest.store import Store

SECURITY_HEADERS = {
    # Pages carry no script; emails previewed here may load remote images.
    "Content-Security-Policy": "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    store = Store.from_url(settings.redis_url or "redis://127.0.0.1:6379/0", settings.redis_prefix)
    signer = TokenSigner(settings)
    app = Flask(__name__)

    @app.after_request
    def secure(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.errorhandler(NotFound)
    def not_found(exc: NotFound) -> tuple[str, int]:
        return render_template("message.html", title="Not found", message=str(exc), _=_en), 404

    @app.errorhandler(InvalidInput)
    def invalid(exc: InvalidInput) -> tuple[str, int]:
        return render_template("message.html", title="Invalid link", message=str(exc), _=_en), 400

    def reader(token: str) -> tuple[Any, Subscriber]:
        list_slug, email = signer.read(token)
        digest_list = store.get_list(list_slug)
        sub = store.get_subscriber(list_slug, email)
        g.gettext = _translator(digest_list.locale)
        return digest_list, sub

    @app.get("/healthz")
    def healthz() -> tuple[dict[str, str], int]:
        try:
            store.r.ping()
        except (redis.RedisError, OSError) as exc:
            return {"status": "error", "redis": str(exc)}, 503
        return {"status": "ok", "redis": "ok"}, 200

    @app.get("/lists")
    def lists() -> str:
        return render_template("lists.html", lists=store.lists(), _=_en)

    @app.get("/lists/<slug>/preview")
    def preview(slug: str) -> Response:
        """The next issue exactly as it will be sent (a sample reader's links filled in)."""
        topics = {t for t in request.args.get("topics", "").split(",") if t} or None
        content, rendered = next_issue(store, settings, slug)
        variant = rendered.assemble(topics)
        if variant is None:
            abort(404, description="none of these topics has articles in the next issue")
        email = request.args.get("email") or SAMPLE_READER
        name = store.get_subscriber(slug, email).name if request.args.get("email") else ""
        values = rendered.reader_values(signer.sign(slug, email), name)
        if request.args.get("format") == "text":
            return Response(personalize(variant[1], values), mimetype="text/plain")
        return Response(personalize(variant[0], values), mimetype="text/html")

    # Unsubscribe. GET only asks: link scanners and prefetchers open every link
    # in a message and must not unsubscribe anyone. POST acts. The signed token
    # in the URL is the credential, so the form needs no CSRF token: a forged
    # POST would have to know the token, and then it could unsubscribe anyway.
    @app.get("/u/<token>")
    def unsubscribe_form(token: str) -> str:
        digest_list, sub = reader(token)
        return render_template("unsubscribe.html", lst=digest_list, email=_mask(sub.email),
                               active=sub.status == "active", _=g.gettext)

    @app.post("/u/<token>")
    def unsubscribe(token: str) -> Response | str:
        digest_list, sub = reader(token)
        store.unsubscribe(digest_list.slug, sub.email)
        if request.form.get("List-Unsubscribe") == "One-Click":  # RFC 8058, from the mailbox provider
            return Response("unsubscribed\n", mimetype="text/plain")
        return render_template("unsubscribed.html", lst=digest_list, email=_mask(sub.email), _=g.gettext)

    @app.route("/p/<token>", methods=["GET", "POST"])
    def preferences(token: str) -> str:
        digest_list, sub = reader(token)
        gettext = g.gettext
        names = {t.slug: t.name for t in store.topics()}
        names[MORE_NEWS] = gettext("More news")
        topics = [(slug, names.get(slug, slug)) for slug in store.list_topics(digest_list)]
        chosen = set(sub.topics or [slug for slug, _ in topics])
        error = saved = None
        if request.method == "POST":
            picked = [slug for slug, _ in topics if request.form.get(f"topic-{slug}")]
            if not picked:
                error = gettext("Choose at least one topic, or unsubscribe instead.")
            else:
                every = len(picked) == len(topics)
                store.add_subscriber(digest_list.slug, sub.model_copy(update={"topics": None if every else picked}))
                chosen, saved = set(picked), gettext("Saved. Your next email will have these topics.")
        return render_template("preferences.html", lst=digest_list, topics=topics, chosen=chosen,
                               error=error, saved=saved, token=token, _=gettext)

    return app


def _translator(locale: str) -> Any:
    """gettext with named placeholders, as the templates call it: _("Hi %(name)s", name=...)."""
    gettext = translations(locale).gettext

    def _(text: str, **kw: Any) -> str:
        return gettext(text) % kw if kw else gettext(text)
    return _


_en = _translator("en")


def _mask(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:2]}{'•' * max(1, len(local) - 2)}@{domain}"
