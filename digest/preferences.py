"""A reader's preferences: the name that greets them, their topics, their language.

Each is checked here, the same way wherever it is set: a request to subscribe
(subscribe.py), the confirmation link's page (confirm.py) and the preferences
page (`save_preferences`). A bad value is InvalidField naming the field.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from digest.errors import InvalidField, InvalidInput
from digest.models import LOCALES, DigestList, Subscriber
from digest.pauses import GETTING_MAIL
from digest.store import Store


def save_preferences(
    store: Store, list_slug: str, email: str, *, name: str | None = None, topics: Iterable[str] | None = None,
    locale: str | None = None,
) -> Subscriber:
    """Change a subscriber's name, topics (all of them: every topic, also later ones) and
    language; None keeps a value. Only for someone who gets mail (active or paused)."""
    digest_list = store.get_list(list_slug)
    sub = store.get_subscriber(list_slug, email)
    if sub.status not in GETTING_MAIL:
        raise InvalidInput(f"{sub.email} is {sub.status}: there is nothing to change")
    update: dict[str, Any] = {}
    if name is not None:
        update["name"] = valid_name(name)
    if topics is not None:
        update["topics"] = valid_topics(store, digest_list, list(topics))
    chosen_locale = valid_locale(locale) if locale is not None else None
    if update:
        store.add_subscriber(list_slug, sub.model_copy(update=update))
    if chosen_locale and chosen_locale != (sub.locale or digest_list.locale):
        store.update_profile(list_slug, sub.email, locale=chosen_locale)
    return store.get_subscriber(list_slug, sub.email)


# -- validation ---------------------------------------------------------------

def valid_name(name: object) -> str:
    if name is None:
        return ""
    if not isinstance(name, str):
        raise InvalidField("name", "must be text")
    try:
        return Subscriber(email="x@example.com", name=name).name
    except ValidationError as exc:
        raise InvalidField("name", exc.errors()[0]["msg"].removeprefix("Value error, ")) from None


def valid_topics(store: Store, digest_list: DigestList, topics: Iterable[str] | None) -> list[str] | None:
    """The chosen topic slugs, or None for "every topic" (none given, or all of them)."""
    if topics is None:
        return None
    if not isinstance(topics, list | tuple) or not all(isinstance(t, str) for t in topics):
        raise InvalidField("topics", "must be a list of topic ids")
    offered = store.list_topics(digest_list)
    chosen = list(dict.fromkeys(topics))
    unknown = [t for t in chosen if t not in offered]
    if unknown:
        raise InvalidField("topics", f"{', '.join(map(repr, unknown[:5]))} is not a topic of this list "
                                     f"(topics: {', '.join(offered)})")
    if not chosen:
        raise InvalidField("topics", "choose at least one topic")
    return None if set(chosen) == set(offered) else chosen


def valid_locale(locale: object) -> str | None:
    if locale in (None, ""):
        return None
    if locale not in LOCALES:
        raise InvalidField("locale", f"{locale!r} is not one of {', '.join(LOCALES)}")
    return str(locale)
