"""Words that fit: subjects cut at a word under a limit, and the wording fixed per language.

Cutting happens in characters (what an inbox counts), never inside a word unless a
single word is longer than the room, and never leaves dangling punctuation before the
ellipsis.
"""

from __future__ import annotations

from digest.render.engine import translations

ELLIPSIS = "…"
HEADLINE_JOINER = " · "
_DANGLING = " ,;:·–—-"


def cut_at_word(text: str, limit: int) -> str:
    """`text` (whitespace collapsed) if it fits in `limit` characters, else its longest
    run of whole words that fits with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    room = max(0, limit - len(ELLIPSIS))
    head = text[: room + 1]  # one more: if that is a space, the last word fits whole
    kept = head.rsplit(" ", 1)[0].rstrip(_DANGLING) if " " in head else ""
    return (kept or text[:room]) + ELLIPSIS


def fit_subject(template: str, list_name: str, leads: list[str], limit: int) -> str:
    """The list's name and as many lead headlines as fit in `limit`; else the first
    headline cut at a word; a name too long for any headline is cut itself."""
    def subject(headline: str) -> str:
        return template % {"list": list_name, "headline": headline}

    if not leads:
        return cut_at_word(list_name, limit)
    best = subject(leads[0])
    for count in range(2, len(leads) + 1):
        longer = subject(HEADLINE_JOINER.join(leads[:count]))
        if len(longer) > limit:
            break
        best = longer
    if len(best) <= limit:
        return best
    room = limit - len(subject(""))
    if room < 15:  # a headline cut to a word or two says nothing: cut the whole line
        return cut_at_word(best, limit)
    return subject(cut_at_word(leads[0], room))


def wording(locale: str) -> dict[str, str]:
    """The fixed sentences a rendering keeps for per-variant and per-reader text."""
    gettext = translations(locale).gettext
    return {
        "subject": gettext("%(list)s: %(headline)s"),
        "preheader": gettext("%(count)s stories in this issue: %(sections)s."),
        "preheader_one": gettext("1 story in this issue: %(sections)s."),
        "greeting": gettext("Hello %(name)s, here is your week."),
        "greeting_anonymous": gettext("Here is your week."),
    }
