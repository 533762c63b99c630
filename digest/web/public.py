"""Readers' pages: subscribe, confirm, preferences, unsubscribe.

Access: /c, /u and /p act on the reader their signed token names, and nobody
else; /s (the form) and /api/lists/<list>/subscribe are open to anyone, limited
per client and per address, with a honeypot (digest/subscribe.py has the rules).

Unsubscribe and confirm: GET only asks, since link scanners and prefetchers open
every link in a message and must not unsubscribe or subscribe anyone; POST acts,
including the RFC 8058 one-click POST from mailbox providers. The token in the
URL is the credential, so those forms need no CSRF token: a forged POST would
have to know the token, and then it could act anyway.

The subscribe form has no CSRF token either, on purpose: there is no session
whose authority a forged request could borrow, and what a POST does (a pending
record and a confirmation email) anyone can do by posting themselves. What a
cross-site post could add is other people's browsers as senders, to spread a
flood over many client addresses; so a POST that a browser marks as cross-site
(Sec-Fetch-Site other than same-origin, or an Origin that is neither BASE_URL's
nor this host's) is refused with 403. Clients that are not browsers send neither
header and are held by the rate limits and by double opt-in itself. A site that
wants its own sign-up box links to /s/<list>, or calls the JSON endpoint from its server.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any
from urllib.parse import urlsplit

from babel.dates import format_date
from flask import Blueprint, Response, current_app, g, render_template, request

from digest.deliver import make_sender
from digest.deliver.base import Sender
from digest.errors import InvalidField, InvalidInput, NotFound, TransportError
from digest.links import PREVIEW, ExpiredLink, TokenSigner, make_token, read_confirm_token
from digest.models import LOCALES, DigestList, Subscriber
from digest.pauses import MAX_PAUSE_WEEKS, pause, resume
from digest.subscribe import RateLimited, carry_out, check_request, confirm, save_preferences, spend_client_quota
from digest.web.shared import mask_email, message_page, shared, translator

log = logging.getLogger(__name__)
blueprint = Blueprint("public", __name__)

HONEYPOT = "website"  # a field people never see; bots fill in anything called website
LANGUAGES = {"en": "English", "es": "Español", "fr": "Français", "de": "Deutsch"}  # each in its own words


def reader(token: str) -> tuple[DigestList, Subscriber]:
    """The list and subscriber a signed token names; 400 if forged, 404 if unknown.

    Pages then speak the subscriber's language (their own choice, else the list's).
    """
    app = shared()
    try:
        list_slug, email = app.signer.read(token)
    except InvalidInput:
        if _is_preview(token):
            raise PreviewLink() from None
        raise
    digest_list = _use_list(list_slug)
    sub = app.store.get_subscriber(list_slug, email)
    _speak(sub.locale or digest_list.locale)
    return digest_list, sub


def _use_list(list_slug: str) -> DigestList:
    g.lst = digest_list = shared().store.get_list(list_slug)
    _speak(digest_list.locale)
    return digest_list


def _speak(locale: str) -> None:
    g.lang, g.gettext = locale, translator(locale)


def _page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(template, lst=g.lst, lang=g.lang, _=g.gettext, **context), status


def _notice(heading: str, text: str, status: int = 200, *, ok: bool = False, link: str = "",
            link_text: str = "") -> tuple[str, int]:
    return _page("notice.html", status, heading=heading, text=text, ok=ok, link=link, link_text=link_text)


class PreviewLink(Exception):
    """A link followed from a preview: it stands for no reader."""


def _is_preview(token: str) -> bool:
    try:
        TokenSigner(shared().settings, purpose=PREVIEW).read(token)
    except InvalidInput:
        return False
    return True


@blueprint.app_errorhandler(PreviewLink)
def preview_link(exc: PreviewLink) -> tuple[str, int]:
    return message_page("Preview", "This link comes from a preview. In the email each reader "
                        "gets, it opens their own page."), 200


# -- subscribe -----------------------------------------------------------------

def sender() -> Sender:
    """The process's Sender (SendGrid, or the outbox without a key), made at first use."""
    ext = current_app.extensions
    if "digest.sender" not in ext:
        ext["digest.sender"] = make_sender(shared().settings)
    return ext["digest.sender"]  # type: ignore[no-any-return]


class Background:
    """Work an answer must not wait for: what a subscription request does once checked.

    Answering before it keeps the time taken the same whether a confirmation goes
    out (a SendGrid round trip) or not (the address is already subscribed), so
    timing tells no more than the page. A request lost with its process is asked
    again by its reader. `join` lets tests wait for the work.
    """

    def __init__(self, workers: int = 4) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="digest-subscribe")
        self._running: set[Future[None]] = set()
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        future = self._pool.submit(self._logged, fn, *args)
        with self._lock:
            self._running.add(future)
        future.add_done_callback(self._done)

    def join(self, timeout: float = 30.0) -> None:
        with self._lock:
            running = list(self._running)
        wait(running, timeout=timeout)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._running.discard(future)

    @staticmethod
    def _logged(fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except TransportError:
            log.exception("a confirmation email could not be handed over (the reader can ask again)")
        except Exception:
            log.exception("a subscription request failed after its answer")


def background() -> Background:
    ext = current_app.extensions
    if "digest.background" not in ext:
        ext["digest.background"] = Background()
    return ext["digest.background"]  # type: ignore[no-any-return]


def client_ip() -> str:
    """The client's address: the peer's, or with TRUSTED_PROXIES = n, the address the
    outermost of our n proxies saw (the n-th from the right in X-Forwarded-For)."""
    hops = shared().settings.trusted_proxies
    if hops:
        chain = [p.strip() for p in ",".join(request.headers.getlist("X-Forwarded-For")).split(",") if p.strip()]
        if len(chain) >= hops:
            try:
                return str(ipaddress.ip_address(chain[-hops]))
            except ValueError:
                log.warning("X-Forwarded-For from a trusted proxy is not an address: %r", chain[-hops])
    return request.remote_addr or ""


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def cross_site() -> bool:
    """True for a POST a browser sent from another site's page (module docstring: why).

    Sec-Fetch-Site (set by the browser, out of any page's reach) must be same-origin
    when present; a sibling subdomain (same-site) is another site too. Origin, when it
    names one, must be ours; "null" names none (our Referrer-Policy: no-referrer makes
    browsers send it for our own forms).
    """
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return True
    origin = request.headers.get("Origin", "null")
    return origin != "null" and origin.lower() not in {_origin(shared().settings.base_url),
                                                       _origin(request.host_url)}


def _topic_choices(digest_list: DigestList) -> list[tuple[str, str]]:
    """(slug, heading) of what a reader may choose; none when the list has no topics of its own."""
    if not digest_list.topics:
        return []
    names = digest_list.topic_names(g.gettext("More news"))
    return [(slug, names[slug]) for slug in shared().store.list_topics(digest_list)]


def _field_error(field: str) -> str:
    _ = g.gettext
    return {
        "email": _("Enter a valid email address."),
        "name": _("A name is one line of at most 200 characters."),
        "topics": _("Choose at least one topic."),
        "weeks": _("Choose a pause of 1 to 12 weeks."),
    }.get(field, _("Something in the form is not valid."))


def _sent_page() -> tuple[str, int]:
    """The one answer to every accepted request, whoever the address belongs to."""
    _ = g.gettext
    return _notice(g.lst.name, _("Almost done. If this address is not subscribed yet, we have sent it an email "
                                 "with a link: click it to confirm your subscription."), ok=True)


def _too_many(exc: RateLimited) -> tuple[str, int, dict[str, str]]:
    text, status = _notice(g.lst.name, g.gettext("Too many requests from your network. Please try again later."),
                           429)
    return text, status, {"Retry-After": str(int(exc.retry_after) + 1)}


@blueprint.get("/s/<slug>")
def subscribe_form(slug: str) -> tuple[str, int]:
    digest_list = _use_list(slug)
    topics = _topic_choices(digest_list)
    return _page("subscribe.html", topics=topics, chosen={s for s, _ in topics}, values={}, error=None,
                 error_field=None)


@blueprint.post("/s/<slug>")
def subscribe(slug: str) -> tuple[str, int] | tuple[str, int, dict[str, str]]:
    digest_list = _use_list(slug)
    if cross_site():
        return _notice(digest_list.name, g.gettext("Please use the form on this site to subscribe."), 403)
    form = request.form
    topics = _topic_choices(digest_list)
    picked = form.getlist("topics")
    try:
        if form.get(HONEYPOT):  # a bot: the same answer, nothing stored or sent
            spend_client_quota(shared().store, shared().settings, client_ip())
            return _sent_page()
        _subscribe(digest_list, form.get("email", ""), form.get("name", ""), picked if topics else None, "form")
    except RateLimited as exc:
        return _too_many(exc)
    except InvalidField as exc:
        values = {"email": form.get("email", ""), "name": form.get("name", "")}
        return _page("subscribe.html", 400, topics=topics, chosen=set(picked), values=values,
                     error=_field_error(exc.field), error_field=exc.field)
    return _sent_page()


def _subscribe(digest_list: DigestList, email: object, name: object, topics: Any, source: str,
               locale: object = None) -> None:
    """Check the request now (errors are the asker's to see), carry it out after answering."""
    app = shared()
    asked = check_request(app.store, app.settings, digest_list.slug, email, name, topics, locale, source=source,
                          ip=client_ip())
    background().submit(carry_out, app.store, app.settings, sender(), asked)


API_FIELDS = {"email", "name", "topics", "locale", HONEYPOT}


@blueprint.post("/api/lists/<slug>/subscribe")
def subscribe_api(slug: str) -> tuple[dict[str, Any], int] | tuple[dict[str, Any], int, dict[str, str]]:
    """{"email", "name"?, "topics"?, "locale"?} -> 202 {"status": "check your inbox"}, whoever the address is.

    "website" is the honeypot, as on the form: a page that builds its own form keeps it
    hidden and sends it along; a non-empty value gets the same 202 and nothing else.
    """
    try:
        digest_list = _use_list(slug)
    except NotFound:
        return {"error": f"unknown list: {slug!r}", "field": None}, 404
    if cross_site():
        return {"error": "cross-site requests are not accepted", "field": None}, 403
    if not request.is_json:
        return {"error": "send a JSON object with Content-Type: application/json", "field": None}, 415
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return {"error": "the body is not a JSON object", "field": None}, 400
    unknown = sorted(set(data) - API_FIELDS)
    if unknown:
        return {"error": f"unknown field {unknown[0]!r} (fields: email, name, topics, locale)",
                "field": unknown[0]}, 400
    try:
        if data.get(HONEYPOT):
            spend_client_quota(shared().store, shared().settings, client_ip())
        else:
            _subscribe(digest_list, data.get("email"), data.get("name", ""), data.get("topics"), "api",
                       data.get("locale"))
    except RateLimited as exc:
        return {"error": "too many requests", "field": None}, 429, {"Retry-After": str(int(exc.retry_after) + 1)}
    except InvalidField as exc:
        return {"error": str(exc), "field": exc.field}, 400
    return {"status": "check your inbox"}, 202


# -- confirm -------------------------------------------------------------------

def _link_problem(exc: InvalidInput, token: str) -> tuple[str, int]:
    """A confirmation link that cannot be used: expired, used, or not ours (forged, cut short)."""
    if isinstance(exc, ExpiredLink):
        list_slug, text = exc.list_slug, "This confirmation link has expired."
    else:
        try:
            list_slug = read_confirm_token(shared().settings, token).list_slug
        except InvalidInput:  # forged: it names no list worth believing
            return message_page("Invalid link", str(exc)), 400
        text = "This confirmation link cannot be used any more."
    try:
        digest_list = _use_list(list_slug)
    except NotFound:
        return message_page("Invalid link", str(exc)), 400
    _ = g.gettext
    return _notice(digest_list.name, _(text), 400, link=f"/s/{digest_list.slug}", link_text=_("Subscribe again"))


@blueprint.get("/c/<token>")
def confirm_form(token: str) -> tuple[str, int]:
    """Asks only: opening the link (as scanners do) confirms nothing."""
    app = shared()
    try:
        link = read_confirm_token(app.settings, token)
    except InvalidInput as exc:
        return _link_problem(exc, token)
    digest_list = _use_list(link.list_slug)
    try:
        sub = app.store.get_subscriber(link.list_slug, link.email)
        _speak(sub.locale or digest_list.locale)
    except NotFound:
        pass
    return _page("confirm.html", email=mask_email(link.email))


@blueprint.post("/c/<token>")
def confirm_subscription(token: str) -> tuple[str, int]:
    app = shared()
    try:
        done = confirm(app.store, app.settings, token)
    except InvalidInput as exc:
        return _link_problem(exc, token)
    sub = done.subscriber
    _use_list(done.digest_list.slug)
    _speak(sub.locale or done.digest_list.locale)
    _ = g.gettext
    return _notice(done.digest_list.name, _("You are subscribed. %(email)s will get the next issue.",
                                            email=mask_email(sub.email)), ok=True,
                   link=f"/p/{make_token(app.settings, done.digest_list.slug, sub.email)}",
                   link_text=_("Choose your topics"))


# -- unsubscribe ---------------------------------------------------------------

@blueprint.get("/u/<token>")
def unsubscribe_form(token: str) -> tuple[str, int]:
    digest_list, sub = reader(token)
    return _page("unsubscribe.html", email=mask_email(sub.email), active=sub.status in ("active", "paused"))


@blueprint.post("/u/<token>")
def unsubscribe(token: str) -> Response | tuple[str, int]:
    digest_list, sub = reader(token)
    shared().store.unsubscribe(digest_list.slug, sub.email)
    if request.form.get("List-Unsubscribe") == "One-Click":  # RFC 8058, from the mailbox provider
        return Response("unsubscribed\n", mimetype="text/plain")
    return _page("unsubscribed.html", email=mask_email(sub.email))


# -- preferences ---------------------------------------------------------------

@blueprint.route("/p/<token>", methods=["GET", "POST"])
def preferences(token: str) -> tuple[str, int]:
    """Topics, name, language, a pause, and the way out. Forms post an `action`: save (the
    default, as older pages sent none), pause or resume."""
    digest_list, sub = reader(token)
    app = shared()
    slugs = app.store.list_topics(digest_list)
    editable = sub.status in ("active", "paused")  # saving for an unsubscribed reader would mislead
    error = saved = None
    status = 200
    if request.method == "POST" and editable:
        form = request.form
        action = form.get("action", "save")
        try:
            if action == "pause":
                weeks = form.get("weeks", "")
                if not weeks.isdigit():
                    raise InvalidField("weeks", "a number of weeks")
                until = pause(app.store, digest_list.slug, sub.email, int(weeks))
                saved = ("paused", until)
            elif action == "resume":
                resume(app.store, digest_list.slug, sub.email)
                saved = ("resumed", None)
            else:
                picked = [slug for slug in slugs if form.get(f"topic-{slug}")]
                save_preferences(app.store, digest_list.slug, sub.email, name=form.get("name"), topics=picked,
                                 locale=form.get("locale") or None)
                saved = ("saved", None)
        except InvalidField as exc:
            error, status = _field_error(exc.field), 400
            if exc.field == "topics":
                error = g.gettext("Choose at least one topic, or unsubscribe instead.")
        sub = app.store.get_subscriber(digest_list.slug, sub.email)
        _speak(sub.locale or digest_list.locale)  # a new language shows at once
    gettext = g.gettext
    names = digest_list.topic_names(gettext("More news"))
    topics = [(slug, names[slug]) for slug in slugs]
    chosen = set(sub.topics or [slug for slug, _ in topics])
    message = None
    if saved is not None:
        kind, until = saved
        message = {
            "saved": gettext("Saved. Your next email will have these topics."),
            "resumed": gettext("Welcome back: your emails start again with the next issue."),
        }.get(kind) or gettext("Paused. Your emails start again after %(date)s.", date=_date(until, g.lang))
    return _page("preferences.html", status, email=mask_email(sub.email), active=editable,
                 paused=sub.status == "paused", paused_until=_date(sub.paused_until, g.lang),
                 name=sub.name, locale=sub.locale or digest_list.locale, languages=LANGUAGES,
                 locales=LOCALES, weeks=range(1, MAX_PAUSE_WEEKS + 1), topics=topics, chosen=chosen,
                 error=error, saved=message, token=token)


def _date(value: Any, locale: str) -> str:
    return format_date(value, format="long", locale=locale) if value is not None else ""
