"""Flask app factory and views. Each view reads a signed token or a list slug,
calls the Store, and renders a small page in the list's language.

The editor pages (/lists, /lists/<slug>/preview) have no login yet: editor auth
comes with the editors' app. Until then they must sit behind the proxy's auth,
because `?email=` puts that reader's signed unsubscribe and preference links in
the page.
"""

from __future__ import annotations

from typing import Any

import redis
from flask import Flask, Response, abort, g, render_template, request
from werkzeug.exceptions import HTTPException

from digest.config import Settings, load_settings
from digest.errors import InvalidInput, NotFound
from digest.issue import next_issue
from digest.links import SAMPLE_READER, TokenSigner
from digest.models import MORE_NEWS, DigestList, Subscriber
from digest.render import personalize, translations
from digest.store import Store

SECURITY_HEADERS = {
    # Pages carry no script; emails previewed here may load remote images.
    "Content-Security-Policy": "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Pages hold a reader's signed links: keep them out of shared caches and history.
    "Cache-Control": "no-store",
}
MAX_FORM_BYTES = 64 * 1024  # a topic form is a few hundred bytes


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    store = Store.from_url(settings.redis_url or "redis://127.0.0.1:6379/0", settings.redis_prefix)
    signer = TokenSigner(settings)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_FORM_BYTES

    @app.after_request
    def secure(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.errorhandler(NotFound)
    def not_found(exc: NotFound) -> tuple[str, int]:
        lst = g.get("lst")
        if exc.kind == "subscriber" and lst is not None:  # a reader removed since the email went out
            text = g.gettext("%(email)s is not subscribed to this newsletter.", email=_mask(exc.key))
            return _message(lst.name, text, lst=lst), 404
        return _message("Not found", str(exc)), 404

    @app.errorhandler(InvalidInput)
    def invalid(exc: InvalidInput) -> tuple[str, int]:
        return _message("Invalid link", str(exc)), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[str, int]:
        return _message(exc.name, exc.description or ""), exc.code or 500

    def reader(token: str) -> tuple[DigestList, Subscriber]:
        """The list and subscriber a signed token names; 400 if forged, 404 if unknown."""
        list_slug, email = signer.read(token)
        g.lst = digest_list = store.get_list(list_slug)
        g.gettext = _translator(digest_list.locale)
        return digest_list, store.get_subscriber(list_slug, email)

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
        """The next issue exactly as it will be sent: the sender's code path and substitutions.

        ?email= shows one reader's email (their topics, name and links); ?topics=a,b a variant.
        """
        content, rendered = next_issue(store, settings, slug)
        email, name, topics = SAMPLE_READER, "", None
        if request.args.get("email"):
            try:
                sub = store.get_subscriber(slug, request.args["email"])
            except InvalidInput as exc:
                abort(400, description=str(exc))
            email, name, topics = sub.email, sub.name, set(sub.topics) if sub.topics else None
        if "topics" in request.args:
            topics = {t for t in request.args["topics"].split(",") if t} or None
        variant = rendered.assemble(topics)
        if variant is None:
            abort(404, description="the next issue has no articles yet" if content.is_empty else
                  f"none of the topics {', '.join(sorted(topics or ()))} has articles in the next issue")
        values = rendered.reader_values(signer.sign(slug, email), name)
        if request.args.get("format") == "text":
            return Response(personalize(variant[1], values), mimetype="text/plain")
        return Response(personalize(variant[0], values), mimetype="text/html")

    # Unsubscribe. GET only asks: link scanners and prefetchers open every link
    # in a message and must not unsubscribe anyone. POST acts. The signed token
    # in the URL is the credential, so the form needs no CSRF token: a forged
    # POST would have to know the token, and then it could unsubscribe anyway.
    # The same holds for the preferences form.
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
        active = sub.status == "active"
        error = saved = None
        if request.method == "POST" and active:  # saving for an unsubscribed reader would mislead
            picked = [slug for slug, _ in topics if request.form.get(f"topic-{slug}")]
            if not picked:
                error = gettext("Choose at least one topic, or unsubscribe instead.")
            else:
                every = len(picked) == len(topics)  # all boxes: every topic, also ones added later
                store.add_subscriber(digest_list.slug, sub.model_copy(update={"topics": None if every else picked}))
                chosen, saved = set(picked), gettext("Saved. Your next email will have these topics.")
        return render_template("preferences.html", lst=digest_list, email=_mask(sub.email), active=active,
                               topics=topics, chosen=chosen, error=error, saved=saved, token=token, _=gettext)

    return app


def _translator(locale: str) -> Any:
    """gettext with named placeholders, as the templates call it: _("Hi %(name)s", name=...)."""
    gettext = translations(locale).gettext

    def _(text: str, **kw: Any) -> str:
        return gettext(text) % kw if kw else gettext(text)
    return _


_en = _translator("en")


def _message(title: str, message: str, **context: Any) -> str:
    return render_template("message.html", title=title, message=message, _=_en, **context)


def _mask(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:2]}{'•' * max(1, len(local) - 2)}@{domain}"
