"""Signing up: the subscribe form, its JSON twin, and the confirmation link.

/s/<list> (the form) and /api/lists/<list>/subscribe are open to anyone, limited
per client and per address, with a honeypot (digest/subscribe.py has the rules);
/c/<token> acts on the request its signed link names. Confirm: GET only asks,
since link scanners open every link in a message and must not subscribe anyone;
POST acts. Anyone may have asked for the address, so GET shows what confirming
stores (the name that will greet the reader, the topics, the language) in a form
the reader may change or clear, and POST stores what that form carries. The link
is its credential, as on /u and /p; a cross-site POST is refused as below, so no
other site's page can choose for a reader who follows a link there.

The subscribe form has no CSRF token, on purpose: there is no session
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

from flask import Blueprint, current_app, g, request

from digest.confirm import Review, confirm, review
from digest.deliver import make_sender
from digest.deliver.base import Sender
from digest.errors import InvalidField, InvalidInput, NotFound, TransportError
from digest.links import ExpiredLink, make_token, read_confirm_token
from digest.models import LOCALES, DigestList
from digest.subscribe import RateLimited, carry_out, check_request, spend_client_quota
from digest.web.public import LANGUAGES, field_error, notice, page, speak, use_list
from digest.web.shared import mask_email, message_page, shared

log = logging.getLogger(__name__)
blueprint = Blueprint("signup", __name__)

HONEYPOT = "website"  # a field people never see; bots fill in anything called website


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


def _sent_page() -> tuple[str, int]:
    """The one answer to every accepted request, whoever the address belongs to."""
    _ = g.gettext
    return notice(g.lst.name, _("Almost done. If this address is not subscribed yet, we have sent it an email "
                                 "with a link: click it to confirm your subscription."), ok=True)


def _too_many(exc: RateLimited) -> tuple[str, int, dict[str, str]]:
    text, status = notice(g.lst.name, g.gettext("Too many requests from your network. Please try again later."),
                           429)
    return text, status, {"Retry-After": str(int(exc.retry_after) + 1)}


@blueprint.get("/s/<slug>")
def subscribe_form(slug: str) -> tuple[str, int]:
    digest_list = use_list(slug)
    topics = _topic_choices(digest_list)
    return page("subscribe.html", topics=topics, chosen={s for s, _ in topics}, values={}, error=None,
                 error_field=None)


@blueprint.post("/s/<slug>")
def subscribe(slug: str) -> tuple[str, int] | tuple[str, int, dict[str, str]]:
    digest_list = use_list(slug)
    if cross_site():
        return notice(digest_list.name, g.gettext("Please use the form on this site to subscribe."), 403)
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
        return page("subscribe.html", 400, topics=topics, chosen=set(picked), values=values,
                     error=field_error(exc.field), error_field=exc.field)
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
        digest_list = use_list(slug)
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
        digest_list = use_list(list_slug)
    except NotFound:
        return message_page("Invalid link", str(exc)), 400
    _ = g.gettext
    return notice(digest_list.name, _(text), 400, link=f"/s/{digest_list.slug}", link_text=_("Subscribe again"))


def _review_page(seen: Review, token: str, status: int = 200, *, name: str | None = None,
                 chosen: set[str] | None = None, locale: str | None = None, error_field: str | None = None,
                 ) -> tuple[str, int]:
    """The link's page: what confirming stores, in a form the reader may change (module docstring)."""
    digest_list = seen.digest_list
    topics = _topic_choices(digest_list)
    if chosen is None:
        chosen = set(seen.choices.topics or [slug for slug, _ in topics])
    return page("confirm.html", status, email=mask_email(seen.subscriber.email), review=not seen.already,
                name=seen.choices.name if name is None else name, topics=topics, chosen=chosen,
                locale=locale or seen.choices.locale or digest_list.locale, languages=LANGUAGES, locales=LOCALES,
                error=field_error(error_field) if error_field else None, error_field=error_field)


@blueprint.get("/c/<token>")
def confirm_form(token: str) -> tuple[str, int]:
    """Asks only: opening the link (as scanners do) confirms nothing. Shows what confirming
    stores, the request's choices, for the reader to keep, change or clear."""
    app = shared()
    try:
        seen = review(app.store, app.settings, token)
    except InvalidInput as exc:
        return _link_problem(exc, token)
    use_list(seen.digest_list.slug)
    speak(seen.choices.locale or seen.digest_list.locale)
    return _review_page(seen, token)


@blueprint.post("/c/<token>")
def confirm_subscription(token: str) -> tuple[str, int]:
    """Confirms with what the page's form carries: the reader's own choices. A POST without
    the form's fields (`review`) confirms what the page would have shown."""
    app = shared()
    try:
        link = read_confirm_token(app.settings, token)
    except InvalidInput as exc:
        return _link_problem(exc, token)
    digest_list = use_list(link.list_slug)
    if cross_site():  # a page elsewhere holding the link must not choose for the reader
        return notice(digest_list.name, g.gettext("Please use the form on this site to subscribe."), 403)
    form = request.form
    chosen: dict[str, Any] = {}
    if form.get("review"):
        chosen = {"name": form.get("name", ""), "locale": form.get("locale") or None,
                  "topics": form.getlist("topics") if _topic_choices(digest_list) else None}
    try:
        done = confirm(app.store, app.settings, token, **chosen)
    except InvalidField as exc:
        seen = review(app.store, app.settings, token)
        speak(seen.choices.locale or digest_list.locale)
        return _review_page(seen, token, 400, name=chosen["name"], chosen=set(form.getlist("topics")),
                            locale=form.get("locale") if form.get("locale") in LOCALES else None,
                            error_field=exc.field)
    except InvalidInput as exc:
        return _link_problem(exc, token)
    sub = done.subscriber
    use_list(done.digest_list.slug)
    speak(sub.locale or done.digest_list.locale)
    _ = g.gettext
    return notice(done.digest_list.name, _("You are subscribed. %(email)s will get the next issue.",
                                            email=mask_email(sub.email)), ok=True,
                   link=f"/p/{make_token(app.settings, done.digest_list.slug, sub.email)}",
                   link_text=_("Choose your topics"))
