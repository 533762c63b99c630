"""Page chrome: what a site wraps around an article, which must never reach an email.

Navigation, share buttons, cookie banners, newsletter sign-ups, related-links
lists, "Read more" links, WordPress's "The post X appeared first on Y", the AMP
plugin's "Site icon" and "Exit mobile version": all of it turns up in feeds'
own content as well as in article pages. `remove_chrome` takes it out of lxml's
tree of the raw HTML, before nh3 (which keeps the text of the tags it drops),
by two rules:

- structure: elements that say what they are: `<nav>`, `<aside>`, `<form>`,
  `<button>`, a `<footer>` that is not a quotation's attribution, an element
  whose class or id names share, social, related, nav, menu, cookie, consent,
  sign-up and the like, and elements the publisher hid (`display:none`, `hidden`);
- words: an element whose whole text is a boilerplate phrase (English, Spanish,
  French, German), a group of share links ("Facebook", "Twitter", "Email"), a
  label followed only by links ("Lire aussi | <a>...</a>"), the link list after
  a "Related posts" heading, and a "Read more" that ends the text. An inline
  element counts only when it stands on its own line ("shortcuts <em>more</em>
  discoverable" keeps its word), and a sentence that merely contains such words
  ("If you want to read more about X, ...") stays, as does a lone link named
  "Twitter" or a table cell saying "Search".

The structural rule never removes an element that holds most of the text: a
wrapper named "post-share-wrapper" around a whole article is a wrapper. Code
(`<pre>`, `<code>`) is never looked into. The work is linear in the size of the
tree (times its depth, which lxml caps at 256).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lxml import etree

# Whole-text phrases, matched after normalization (see _norm): lower case,
# punctuation and arrows gone, whitespace folded.
READ_MORE = (
    r"read more( here| on( [\w .'-]{1,40})?)?", r"read (the )?(rest|full (story|article|post|text))( here)?",
    r"continue reading( on( [\w .'-]{1,40})?)?", r"keep reading", r"read on", r"(learn|see|view) more",
    r"click here to (read|continue)( more| reading)?", r"more",
    r"le[ée]r? m[aá]s", r"seguir leyendo", r"sigue leyendo", r"continuar leyendo", r"ver m[aá]s",
    r"leer (el )?(art[ií]culo|la nota|la noticia)( completa?)?",
    r"lire la suite", r"lire plus", r"en savoir plus", r"continuer (la lecture|[aà] lire)",
    r"lire l'article( complet)?", r"la suite",
    r"weiterlesen", r"mehr lesen", r"mehr erfahren", r"(den )?(ganzen )?artikel lesen", r"zum (ganzen )?artikel",
)
POSTED_FIRST = (
    r"the post .+ appeared first on .+",
    r"(la entrada|el post|la publicaci[oó]n|el art[ií]culo) .+ (se public[oó] primero|apareci[oó] primero|"
    r"aparece primero) en .+",
    r"(l'article|le billet|cet article|le post) .+ est apparu en premier sur .+",
    r"(der beitrag|der artikel) .+ erschien zuerst auf .+",
)
NETWORKS = (
    r"facebook", r"twitter", r"x", r"linkedin", r"whatsapp", r"reddit", r"pinterest", r"telegram", r"e-?mail",
    r"mail", r"print", r"mastodon", r"bluesky", r"threads", r"tumblr", r"pocket", r"flipboard", r"messenger",
    r"sms", r"xing", r"vk", r"weibo", r"hacker news", r"copy link", r"copiar enlace", r"copier le lien",
    r"link kopieren", r"imprimir", r"imprimer", r"drucken", r"correo", r"courriel",
)
_NET = "|".join(NETWORKS)
_SHARE_TAIL = rf"( (post|article|story|page))?( (on|to|via|with|by) ({_NET}))?( opens in (a )?new window)?"
SHARE = (
    rf"(click to )?share( (this|it))?{_SHARE_TAIL}", rf"(click to )?(email|print|tweet|pin)( (this|it)){_SHARE_TAIL}",
    rf"click to (email|print|tweet|pin){_SHARE_TAIL}", rf"(email|print|tweet|pin) (on|to|via|with|by) ({_NET})",
    r"tweet", r"pin it", r"like this", r"like loading", r"loading", r"(\d+ )?shares?",
    r"follow us( on [\w .-]{1,30})?",
    rf"compart(ir|e)( (esto|este art[ií]culo|la noticia))?( (en|por|v[ií]a|con) ({_NET}))?", r"tuitear",
    r"me gusta esto", r"cargando", r"s[ií]guenos( en [\w .-]{1,30})?",
    rf"partager( (ceci|cet article|la page|l'article))?( (sur|par|via|avec) ({_NET}))?", r"tweeter",
    r"[ée]pingler", r"j'aime ceci", r"chargement", r"suivez-nous( sur [\w .-]{1,30})?",
    rf"((diesen|den) )?((beitrag|artikel|seite) )?teilen( (auf|per|via|mit|bei) ({_NET}))?", r"twittern",
    r"gef[äa]llt mir", r"wird geladen", r"folge uns( auf [\w .-]{1,30})?",
)
RELATED = (
    r"related( (posts?|articles?|stories|content|reading|links|news))?", r"(you )?(may|might) also (like|enjoy)",
    r"you may be interested in", r"recommended (for you|reading|articles?|stories)", r"(read|see) (also|next)",
    r"more (stories|articles|posts|news)( from [\w .'-]{1,40})?", r"(most )?popular( posts| articles| now)?",
    r"trending( now)?", r"most read",
    r"(art[ií]culos|entradas|noticias|publicaciones|posts) relacionad[oa]s", r"relacionad[oa]s",
    r"(tambi[ée]n )?te (puede|podr[ií]a) interesar", r"lee tambi[ée]n", r"(quiz[aá]s?|tal vez) te (interese|guste)",
    r"lo m[aá]s (le[ií]do|visto)",
    r"articles? (similaires|li[ée]s|connexes|recommand[ée]s)", r"([aà] )?lire aussi",
    r"vous (aimerez|pourriez aimer) aussi", r"sur le m[eê]me (sujet|th[eè]me)", r"les plus lus",
    r"[äa]hnliche (beitr[äa]ge|artikel)", r"verwandte (beitr[äa]ge|artikel|themen)",
    r"(das )?(k[öo]nnte|d[üu]rfte) (dich|sie|euch) auch interessieren", r"auch interessant", r"mehr zum thema",
    r"lesen sie auch", r"meistgelesen",
)
SITE = (
    r"site icon", r"exit mobile version", r"(skip|jump) to (main )?content", r"back to top",
    r"toggle (navigation|menu)", r"main menu", r"advertisement",
    r"(proudly )?powered by wordpress", r"leave a (reply|comment)", r"\d+ (comments?|responses?)",
    r"no comments( yet)?", r"(log|sign) in", r"subscribe( now| today)?",
    r"(subscribe|sign up)( now)? (to|for) (our|the|my) (free |weekly |daily )?(newsletter|mailing list)"
    r"( [\w .,'-]{0,80})?",
    r"get (our|the) newsletter", r"newsletter sign ?up",
    r"icono del sitio", r"salir de la versi[oó]n m[oó]vil", r"(ir|saltar) al contenido( principal)?",
    r"volver arriba", r"publicidad", r"deja (un|tu) comentario",
    r"suscr[ií]bete( (a|al) (nuestro|el|la) (bolet[ií]n|newsletter))?( [\w .,'-]{0,80})?",
    r"ic[oô]ne du site", r"quitter la version mobile", r"(aller|passer) au contenu( principal)?",
    r"retour en haut", r"publicit[ée]", r"laisser un commentaire",
    r"abonnez-vous( (à|a) (notre|la) (newsletter|lettre d'information))?( [\w .,'-]{0,80})?",
    r"inscrivez-vous (à|a) (notre|la) newsletter( [\w .,'-]{0,80})?",
    r"website-(symbol|icon)", r"seiten-icon", r"mobile version verlassen", r"zum inhalt springen", r"nach oben",
    r"werbung", r"anzeige", r"hinterlasse einen kommentar", r"(newsletter|jetzt) abonnieren",
)
_CONSENT_WORDS = (r"accept\w*|agree\w*|consent\w*|privacy|policy|experience|settings|preferences|continu\w*|"
                  r"personali[sz]\w*|acept\w*|privacidad|pol[ií]tica|confidentialit[ée]|politique|exp[ée]rience|"
                  r"akzeptier\w*|zustimm\w*|datenschutz\w*|einwillig\w*|erfahrung")
# A cookie notice speaks of the site itself ("We use cookies ...", "Ce site utilise des
# cookies ...") and asks for something; a sentence of an article about cookies does not start so.
COOKIES = (
    rf"(we|this (site|website)|our (site|website)) (use|uses|are using) .{{0,30}}\bcookies\b.*\b({_CONSENT_WORDS})\b.*",
    rf"(este sitio( web)?|esta (web|p[aá]gina)|(nosotros )?utilizamos|usamos) .{{0,40}}\bcookies\b.*"
    rf"\b({_CONSENT_WORDS})\b.*",
    rf"(ce site|notre site|nous utilisons) .{{0,40}}\bcookies\b.*\b({_CONSENT_WORDS})\b.*",
    rf"(diese (website|webseite|seite)|wir) (verwendet|verwenden|nutzt|nutzen|setzt|setzen) .{{0,30}}\bcookies\b.*"
    rf"\b({_CONSENT_WORDS})\b.*",
    r"(accept|reject|decline)( all)?( cookies)?", r"cookie (settings|preferences|policy)",
    r"manage (cookies|consent|preferences|options)",
    r"(aceptar|rechazar)( todas?)?( las cookies)?", r"configurar cookies", r"pol[ií]tica de cookies",
    r"(accepter|refuser)( tout| les cookies| et fermer)?", r"tout (accepter|refuser)", r"param[ée]trer les cookies",
    r"g[ée]rer (les cookies|mes choix)", r"politique (de|des) cookies",
    r"(alle )?(akzeptieren|ablehnen)", r"cookie-einstellungen", r"datenschutzeinstellungen",
)


def _alternation(*groups: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for group in groups for p in group))


BOILERPLATE = _alternation(READ_MORE, POSTED_FIRST, SHARE, RELATED, SITE, COOKIES)
RELATED_HEADING = _alternation(RELATED)
SHARE_ITEM = _alternation(SHARE, NETWORKS)
_READ_MORE = "|".join(READ_MORE)
_LINK_END = r"\s*[\])]?\s*[»›→>.…:]*\s*$"
_SENTENCE_DONE = re.compile(r"[.!?…:|\])»”\"]\s*$")
_TEASER_WORDS = "|".join(p for p in READ_MORE if p not in ("more", "la suite"))
_TEASER_LABEL = re.compile(_TEASER_WORDS)  # "Read more: <a>...</a>", not a bare "More <a>at X</a>"
_TEASER_END = re.compile(rf"(?:^|\s)[\[(]?(?:{_TEASER_WORDS})\s*[\])]?\s*[»›→>.…:]*$", re.IGNORECASE)
# "… Read more" ending the text, after a sentence end, an ellipsis or a bracket ...
_TRAILING = re.compile(rf"([.!?…\])»”\"])\s*[\[(]?\s*(?:{_READ_MORE}){_LINK_END}", re.IGNORECASE)
# ... or alone on its line.
_LINE = re.compile(rf"^\s*[\[(]?\s*(?:{_READ_MORE}){_LINK_END}", re.IGNORECASE)

# Elements that are never the article, whatever they hold (script and style are code, not text).
CHROME_TAGS = {"nav", "aside", "form", "button", "input", "select", "textarea", "dialog", "menu", "template",
               "script", "style", "svg", "math", "iframe", "object", "embed", "canvas"}
CODE_TAGS = {"pre", "code", "kbd", "samp"}
TABLE_TAGS = {"table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption"}
# Inline elements: a class says something only when it is one of CHROME_CLASSES (an
# inline link classed "related-link" sits inside a sentence).
INLINE_TAGS = {"a", "span", "em", "strong", "b", "i", "u", "small", "abbr", "cite", "q", "sub", "sup", "img",
               "mark", "time", "label"}
# Words in a class or id (split at spaces, - and _) that name chrome.
CHROME_WORDS = {
    "share", "shares", "sharing", "sharebar", "sharedaddy", "sharethis", "shareaholic", "addtoany", "a2a",
    "social", "socials", "related", "relatedposts", "yarpp", "nav", "navbar", "navigation", "breadcrumb",
    "breadcrumbs", "menu", "cookie", "cookies", "consent", "gdpr", "signup", "subscribe", "subscription",
    "advert", "advertisement", "ad", "ads", "adsbygoogle", "popup", "modal", "readmore",
    "paywall", "newsletterform", "skiplink",
}
# Whole class names that are chrome on any element.
CHROME_CLASSES = {
    "more-link", "read-more", "read_more", "readmore", "moretag", "screen-reader-text", "sr-only",
    "visually-hidden", "visuallyhidden", "skip-link", "site-icon", "amp-wp-site-icon", "amp-wp-canonical-link",
    "meta-nav", "share-icon", "sd-button", "a2a_button", "jp-relatedposts",
}
# An element with more text than this is only removed when it holds at most half of all
# the text: else it is the article's own wrapper, whatever its class.
WRAPPER_CHARS = 200
PHRASE_MAX_CHARS = 400  # longer elements are not looked at as phrases
# Every phrase that can be longer than SHORT_PHRASE_CHARS starts with one of these (a
# cheap test first: most paragraphs start otherwise). A new long phrase adds its start here.
SHORT_PHRASE_CHARS = 60
_LONG_START = re.compile(
    r"[\W_]*(the post|la entrada|el post|la publicaci|el art|l.article|le billet|cet article|le post|der beitrag|"
    r"der artikel|we |this (site|website)|our (site|website)|este sitio|esta (web|p)|nosotros|utilizamos|usamos|"
    r"ce site|notre site|nous utilisons|diese (website|webseite|seite)|wir |subscribe|sign up|suscr|abonnez|"
    r"inscrivez|read more|continue reading|click to|related|more (stories|articles|posts|news)|follow us|"
    r"s[ií]guenos|suivez|folge|(art[ií]culos|entradas|noticias|publicaciones) relacionad|"
    r"compart|partager|teilen|diesen|den )",
    re.IGNORECASE,
)
_WORD_SPLIT = re.compile(r"[\s_-]+|(?<=[a-z])(?=[A-Z])")
_NOT_WORD = re.compile(r"[^\w\s'-]+")


def normalize(text: str) -> str:
    """Text as the phrase lists spell it: lower case, apostrophes straight, no punctuation or arrows."""
    return " ".join(_NOT_WORD.sub(" ", text.casefold().replace("’", "'")).split()).strip("'-_ ")


def is_boilerplate(text: str) -> bool:
    """Whether `text`, as a whole, is a boilerplate phrase ("Read more", "Share on Facebook", ...)."""
    if not text or len(text) > PHRASE_MAX_CHARS:
        return False
    if len(text) > SHORT_PHRASE_CHARS and not _LONG_START.match(text):  # most paragraphs: no regex run
        return False
    return BOILERPLATE.fullmatch(normalize(text)) is not None


def ends_like_a_teaser(text: str) -> bool:
    """Whether plain `text` ends the way a teaser does: "…", "[…]", "Read more", "Continue reading".

    Plain text has lost its line breaks, so any "Read more" at the end counts, but
    not a bare "more" ("... and more") or "la suite" ("... et la suite").
    """
    tail = text.rstrip()[-120:]
    return tail.endswith(("…", "...", "[…]", "[...]")) or _TEASER_END.search(tail) is not None


def remove_chrome(root: etree._Element) -> None:
    """Remove page chrome from the tree under `root` (in place; `root` itself stays)."""
    lengths = _text_lengths(root)
    total = lengths.get(root, 0)
    stack = list(reversed(root))
    while stack:
        element = stack.pop()
        tag = element.tag
        if not isinstance(tag, str):  # comments and processing instructions: nh3 drops them
            continue
        tag = tag.lower()
        if tag in CODE_TAGS:
            continue
        size = lengths.get(element, 0)
        if _is_chrome(element, tag, size, total) or _is_callout(element, size, lengths):
            after = element.getnext() if _is_related_heading(element, tag, size) else None
            remove_keeping_tail(element)
            if after is not None and _is_link_list(after, lengths):
                remove_keeping_tail(after)
            continue
        if tag == "noscript":  # lazy-loading's fallback image: the real one (its placeholder is dropped)
            stack.extend(reversed(element))
            element.drop_tag()
            continue
        stack.extend(reversed(element))
    _strip_trailing_read_more(root)


def _is_chrome(element: etree._Element, tag: str, size: int, total: int) -> bool:
    wrapper = size > WRAPPER_CHARS and size * 2 > total
    if tag in CHROME_TAGS:
        return tag not in ("nav", "aside", "form", "menu") or not wrapper
    if tag == "footer":
        return not wrapper and not any(a.tag in ("blockquote", "figure") for a in element.iterancestors())
    if tag == "img":
        return is_boilerplate(element.get("alt") or "") or _named_chrome(element, inline=True)
    if not wrapper and (_named_chrome(element, inline=tag in INLINE_TAGS) or _hidden(element)):
        return True
    if 0 < size <= PHRASE_MAX_CHARS and tag not in TABLE_TAGS:  # a table's cells are data
        if tag in INLINE_TAGS and len(element) < 2 and not _stands_alone(element):
            return False  # a word inside a sentence, whatever it says, and too small for a share group
        if is_boilerplate(element.text_content()):
            # inside a sentence ("shortcuts <em>more</em> discoverable") an inline element is a word
            return tag not in INLINE_TAGS or _stands_alone(element)
        return _is_share_group(element)
    return False


def _stands_alone(element: etree._Element) -> bool:
    """An inline element that is a line of its own: no words after it, and before it
    nothing, a line break, a block, or the end of a sentence ("Teaser… <a>Read more</a>")."""
    after = element.getnext()
    if normalize(element.tail or "") or (after is not None and _has_words(after)):
        return False
    before = element.getprevious()
    text = (before.tail if before is not None else element.getparent().text) or ""  # type: ignore[union-attr]
    if text.strip():
        return _SENTENCE_DONE.search(text) is not None
    if before is None or not isinstance(before.tag, str) or before.tag.lower() not in INLINE_TAGS:
        return True
    return before.tag.lower() == "br" or _SENTENCE_DONE.search(before.text_content()) is not None


def _has_words(element: etree._Element) -> bool:
    return bool(normalize(element.tail or "")) or (
        isinstance(element.tag, str) and bool(normalize(element.text_content())))


def _named_chrome(element: etree._Element, *, inline: bool) -> bool:
    names = f"{element.get('class') or ''} {element.get('id') or ''}"
    if not names.strip():
        return False
    classes = {c.lower() for c in names.split()}
    if classes & CHROME_CLASSES:
        return True
    if inline:
        return False
    return any(word.lower() in CHROME_WORDS for name in names.split() for word in _WORD_SPLIT.split(name))


def _hidden(element: etree._Element) -> bool:
    if element.get("hidden") is not None:
        return True
    style = (element.get("style") or "").replace(" ", "").lower()
    return "display:none" in style or "visibility:hidden" in style


def _is_share_group(element: etree._Element) -> bool:
    """"Share: Facebook Twitter Email": every piece of text is a share word, and there are two or more."""
    if len(element) < 2:
        return False
    count = 0
    for piece in _pieces(element):
        words = normalize(piece)
        if words:
            if not SHARE_ITEM.fullmatch(words):
                return False
            count += 1
    return count >= 2


def _pieces(element: etree._Element) -> Iterator[str]:
    """The element's own text, then each child's text and tail."""
    yield element.text or ""
    for child in element:
        if isinstance(child.tag, str):
            yield child.text_content()
        yield child.tail or ""


def _is_related_heading(element: etree._Element, tag: str, size: int) -> bool:
    """"Related posts", "Lire aussi" as a line of its own (then what follows it is its list)."""
    if not 0 < size <= 60 or RELATED_HEADING.fullmatch(normalize(element.text_content())) is None:
        return False
    return tag not in INLINE_TAGS or not normalize(element.tail or "")


def _is_callout(element: etree._Element, size: int, lengths: dict[etree._Element, int]) -> bool:
    """"Lire aussi | <a>Another story</a>", "Read more: <a>...</a>": a label, then only links."""
    if len(element) == 0 or size > PHRASE_MAX_CHARS:
        return False
    label = element.text or ""
    if not normalize(label):  # the label in an element of its own: <span>Lire aussi</span> <a>...</a>
        first = element[0]
        if not isinstance(first.tag, str) or first.tag.lower() == "a":
            return False
        label = first.text_content() + (first.tail or "")
    rest = size - len(label)
    linked = sum(lengths.get(a, 0) for a in element.iter("a"))
    if not (rest > 0 and linked * 10 >= rest * 8):  # the cheap half first: most paragraphs are not mostly links
        return False
    words = normalize(label)
    return bool(words) and (RELATED_HEADING.fullmatch(words) is not None or _TEASER_LABEL.fullmatch(words) is not None)


def _is_link_list(element: etree._Element, lengths: dict[etree._Element, int]) -> bool:
    """Links and little else (a list, a block, a link): what follows a "Related posts" heading."""
    if not isinstance(element.tag, str) or element.tag.lower() not in ("ul", "ol", "div", "p", "section", "a"):
        return False
    if element.tag.lower() == "a":
        return True
    size = lengths.get(element, 0)
    linked = sum(lengths.get(a, 0) for a in element.iter("a"))
    return size > 0 and linked * 10 >= size * 8


def _text_lengths(root: etree._Element) -> dict[etree._Element, int]:
    """Characters of text under each element (its tail excluded), in one pass from the leaves up."""
    lengths: dict[etree._Element, int] = {}
    for element in reversed(list(root.iter())):  # reversed pre-order: every child before its parent
        size = len(element.text or "") if isinstance(element.tag, str) else 0
        for child in element:
            size += lengths.get(child, 0) + len(child.tail or "")
        lengths[element] = size
    return lengths


def remove_keeping_tail(element: etree._Element) -> None:
    """Remove an element but keep its tail text."""
    parent = element.getparent()
    if parent is None:
        return
    if element.tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def _strip_trailing_read_more(root: etree._Element) -> None:
    """A "Read more" that ends the last text (whole elements saying so are gone already)."""
    last = _last_text(root)
    if last is None:
        return
    element, slot = last
    text = getattr(element, slot)
    match = _TRAILING.search(text)
    if match:
        setattr(element, slot, text[: match.start()] + match.group(1))
        return
    # Alone on its line: the first text of a block, or the text after a <br>.
    tag = element.tag.lower() if isinstance(element.tag, str) else ""
    line_start = tag == "br" if slot == "tail" else tag not in INLINE_TAGS
    if line_start and _LINE.search(text):
        setattr(element, slot, "")


def _last_text(element: etree._Element) -> tuple[etree._Element, str] | None:
    """The last non-blank text inside `element` (its own tail excluded), searched from the end."""
    for child in reversed(element):
        if child.tail and child.tail.strip():
            return child, "tail"
        if _is_text_element(child):
            found = _last_text(child)
            if found is not None:
                return found
    if element.text and element.text.strip() and _is_text_element(element):
        return element, "text"
    return None


def _is_text_element(element: etree._Element) -> bool:
    return isinstance(element.tag, str) and element.tag.lower() not in CODE_TAGS
