"""Readers' own pages: unsubscribe and preferences. A signed token is the credential.

Access: /u and /p act on the reader their signed token names, and nobody else.
Unsubscribe: GET only asks, since link scanners and prefetchers open every link
in a message and must not unsubscribe anyone; POST acts, including the RFC 8058
one-click POST from mailbox providers. The token in the URL is the credential,
so the forms need no CSRF token: a forged POST would have to know the token, and
then it could act anyway. Signing up and confirming are digest/web/signup.py.
"""

from __future__ import annotations

from typing import Any

from babel.dates import format_date
from flask import Blueprint, Response, g, render_template, request

from digest.errors import InvalidField, InvalidInput
from digest.links import PREVIEW, TokenSigner
from digest.models import LOCALES, DigestList, Subscriber
from digest.pauses import MAX_PAUSE_WEEKS, pause, resume
from digest.preferences import save_preferences
from digest.web.shared import mask_email, message_page, shared, translator

blueprint = Blueprint("public", __name__)

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
    digest_list = use_list(list_slug)
    sub = app.store.get_subscriber(list_slug, email)
    speak(sub.locale or digest_list.locale)
    return digest_list, sub


def use_list(list_slug: str) -> DigestList:
    g.lst = digest_list = shared().store.get_list(list_slug)
    speak(digest_list.locale)
    return digest_list


def speak(locale: str) -> None:
    g.lang, g.gettext = locale, translator(locale)


def page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(template, lst=g.lst, lang=g.lang, _=g.gettext, **context), status


def notice(heading: str, text: str, status: int = 200, *, ok: bool = False, link: str = "",
            link_text: str = "") -> tuple[str, int]:
    return page("notice.html", status, heading=heading, text=text, ok=ok, link=link, link_text=link_text)


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


def field_error(field: str) -> str:
    _ = g.gettext
    return {
        "email": _("Enter a valid email address."),
        "name": _("A name is one line of at most 200 characters."),
        "topics": _("Choose at least one topic."),
        "weeks": _("Choose a pause of 1 to 12 weeks."),
    }.get(field, _("Something in the form is not valid."))


# -- unsubscribe ---------------------------------------------------------------

@blueprint.get("/u/<token>")
def unsubscribe_form(token: str) -> tuple[str, int]:
    digest_list, sub = reader(token)
    return page("unsubscribe.html", email=mask_email(sub.email), active=sub.status in ("active", "paused"))


@blueprint.post("/u/<token>")
def unsubscribe(token: str) -> Response | tuple[str, int]:
    digest_list, sub = reader(token)
    shared().store.unsubscribe(digest_list.slug, sub.email)
    if request.form.get("List-Unsubscribe") == "One-Click":  # RFC 8058, from the mailbox provider
        return Response("unsubscribed\n", mimetype="text/plain")
    return page("unsubscribed.html", email=mask_email(sub.email))


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
            error, status = field_error(exc.field), 400
            if exc.field == "topics":
                error = g.gettext("Choose at least one topic, or unsubscribe instead.")
        sub = app.store.get_subscriber(digest_list.slug, sub.email)
        speak(sub.locale or digest_list.locale)  # a new language shows at once
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
    return page("preferences.html", status, email=mask_email(sub.email), active=editable,
                 paused=sub.status == "paused", paused_until=_date(sub.paused_until, g.lang),
                 name=sub.name, locale=sub.locale or digest_list.locale, languages=LANGUAGES,
                 locales=LOCALES, weeks=range(1, MAX_PAUSE_WEEKS + 1), topics=topics, chosen=chosen,
                 error=error, saved=message, token=token)


def _date(value: Any, locale: str) -> str:
    return format_date(value, format="long", locale=locale) if value is not None else ""
