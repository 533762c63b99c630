"""Readers' pages: unsubscribe and preferences. A signed token is the credential.

Unsubscribe: GET only asks, since link scanners and prefetchers open every link
in a message and must not unsubscribe anyone; POST acts, including the RFC 8058
one-click POST from mailbox providers. The token in the URL is the credential,
so the forms need no CSRF token: a forged POST would have to know the token,
and then it could act anyway.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, render_template, request

from digest.errors import InvalidInput
from digest.links import PREVIEW, TokenSigner
from digest.models import DigestList, Subscriber
from digest.web.shared import mask_email, message_page, shared, translator

blueprint = Blueprint("public", __name__)


def reader(token: str) -> tuple[DigestList, Subscriber]:
    """The list and subscriber a signed token names; 400 if forged, 404 if unknown."""
    app = shared()
    try:
        list_slug, email = app.signer.read(token)
    except InvalidInput:
        if _is_preview(token):
            raise PreviewLink() from None
        raise
    g.lst = digest_list = app.store.get_list(list_slug)
    g.gettext = translator(digest_list.locale)
    return digest_list, app.store.get_subscriber(list_slug, email)


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


@blueprint.get("/u/<token>")
def unsubscribe_form(token: str) -> str:
    digest_list, sub = reader(token)
    return render_template("unsubscribe.html", lst=digest_list, email=mask_email(sub.email),
                           active=sub.status == "active", _=g.gettext)


@blueprint.post("/u/<token>")
def unsubscribe(token: str) -> Response | str:
    digest_list, sub = reader(token)
    shared().store.unsubscribe(digest_list.slug, sub.email)
    if request.form.get("List-Unsubscribe") == "One-Click":  # RFC 8058, from the mailbox provider
        return Response("unsubscribed\n", mimetype="text/plain")
    return render_template("unsubscribed.html", lst=digest_list, email=mask_email(sub.email), _=g.gettext)


@blueprint.route("/p/<token>", methods=["GET", "POST"])
def preferences(token: str) -> str:
    digest_list, sub = reader(token)
    store, gettext = shared().store, g.gettext
    names = digest_list.topic_names(gettext("More news"))
    topics = [(slug, names[slug]) for slug in store.list_topics(digest_list)]
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
    return render_template("preferences.html", lst=digest_list, email=mask_email(sub.email), active=active,
                           topics=topics, chosen=chosen, error=error, saved=saved, token=token, _=gettext)
