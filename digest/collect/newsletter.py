"""Newsletters as a source: a newsletter mailed to a feed's inbound address becomes its articles.

Editors subscribe `news+FEEDID@NEWSLETTER_INBOUND_DOMAIN` (or forward what they
receive there); SendGrid's Inbound Parse posts each message to the endpoint
digest.web.webhooks registers, and `receive_newsletter` decides:

- whose: the feed named by a recipient's local part (`FEEDID`, or what follows
  the last "+": `news+FEEDID`), envelope recipients first, then To and Cc; it
  must be a feed of kind "newsletter". A message may feed up to MAX_FEEDS.
- from whom: only from the feed's registered senders (an address, or "@domain"
  for any address there), and only when SendGrid vouches for the sender's
  domain (DKIM pass for the From domain, or SPF pass for an envelope sender in
  it: digest.inbound_mail.authenticated_sender). A feed with no registered sender
  takes nothing: anyone who guesses a feed id could otherwise write into a
  digest. Everything refused is logged, sender and subject included, so an
  editor can see whom to register (a forward from the editor's own mailbox
  counts as the editor's mail).
- what: `newsletter_entries` turns the HTML (or, without one, the text) into
  entries: a heading with its link and the paragraphs under it is one article;
  without headings, each paragraph's own link is one, its title the link's words
  (or the paragraph's first sentence when they say only "Read more"). Links to
  unsubscribe, manage preferences, view in a browser, share or follow, legal
  and advertising pages, sponsored sections, forwarded-message headers, hidden
  preheaders and tracking pixels never become articles. The entries then go
  through the same cleaning, caps and deduplication as any feed's
  (digest.collect.collector.store_entries): a link already collected is a duplicate.
  No article page is fetched for them here: SendGrid is waiting, and a
  newsletter's links are often its sender's click trackers.
"""

from __future__ import annotations

import html as htmllib
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import getaddresses, parseaddr
from urllib.parse import urlsplit

from lxml import etree
from lxml import html as lxml_html

from digest.collect.clean import canonical_url, http_url, is_pixel_image, strip_controls
from digest.collect.collector import store_entries
from digest.collect.parse import RawEntry
from digest.config import Settings
from digest.errors import NotFound
from digest.inbound_mail import authenticated_sender, mail_envelope, mail_subject
from digest.models import SLUG, Feed
from digest.store import Store

log = logging.getLogger(__name__)

MAX_FEEDS = 5  # newsletter feeds one message may feed
MAX_ENTRIES = 100  # articles one message may make
SUMMARY_MAX_CHARS = 1200  # of the paragraphs under a heading
HEADING_MAX_CHARS = 200  # a longer bold line is a paragraph, not a heading
SPONSOR_LABEL_CHARS = 60  # "Together with Acme" is a label; a headline may start "Together with ..."
MIN_PARAGRAPH_WORDS = 4  # shorter lines under a heading (a date, a byline) are not summary
BLOCK_TAGS = {"p", "div", "td", "th", "tr", "table", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
              "blockquote", "section", "article", "header", "footer", "center", "dd", "dt", "pre", "hr"}
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
SKIP_TAGS = {"head", "title", "script", "style", "noscript", "template", "svg", "math", "iframe", "object",
             "form", "button", "select", "textarea"}

# Link words that are never a story: matched against the whole link text, lower case.
_DROP_TEXT = re.compile(
    r"(un-?subscribe|opt[ -]?out|manage (your )?(subscription|preferences|email preferences|emails?)|"
    r"(update|change|edit) (your )?(profile|preferences|subscription|email preferences|email address)|"
    r"(email|subscription|notification|mailing) preferences|preferences|"
    r"view (this |the )?(email|newsletter|issue|message|post)?( ?(in|on) (your |a |the )?(browser|web))|"
    r"view (it |this )?online|(open|read) (it |this )?(online|in (your |a )?browser)|web ?version|"
    r"view as (a )?web ?page|having trouble viewing.*|"
    r"forward( (this|it))?( (email|newsletter))?( to a friend)?|refer (a friend|friends)|"
    r"share( (this|it))?( (post|story|article|email|newsletter|issue))?( (on|via|to|with) .*)?|"
    r"tweet( this)?|follow( us)?( on .*)?|like us( on .*)?|"
    r"facebook|twitter|x|linkedin|instagram|youtube|tiktok|threads|mastodon|bluesky|pinterest|reddit|"
    r"whatsapp|telegram|rss|"
    r"privacy( policy| notice)?|terms( (of (service|use)|and conditions))?|cookie policy|"
    r"advertise( with us)?|sponsor( us)?|partner with us|media kit|"
    r"contact( us)?|help|faq|support|about( us)?|jobs|careers|"
    r"sign ?up|subscribe( (now|here|today))?|log ?in|sign ?in|donate|"
    r"was this (email )?forwarded to you.*|powered by .*|sent (with|via) .*|"
    r"add us to your address book|whitelist us|"
    r"(leave a |add a |view |read |\d+ )?(comments?|replies)|likes?|restack|open in (the )?app|online|"
    r"start (writing|a newsletter|your own newsletter)|write for us|"
    r"download (the|our) app|get the app|app store|google play)",
    re.IGNORECASE,
)
# Link words that say only "the story is there": the title comes from around the link.
_GENERIC = re.compile(
    r"(read( the)? (more|full (story|article|post|piece|report)|it|on|here|this)|more|continue reading|"
    r"keep reading|click here|here|link|source|via|full story|full article|article|story|watch|listen|"
    r"learn more|see more|details|this|→|»|>>)",
    re.IGNORECASE,
)
_DROP_PATH = re.compile(r"/(un-?subscribe|unsub|opt-?out|optout|preferences|manage-?subscription|"
                        r"email-?preferences|profile/edit|forward)\b|"
                        r"^/(@[^/]+|(author|authors|profile|people|user|users|u)/[^/]+)/?$", re.IGNORECASE)
_SHARE_PATH = re.compile(r"/(intent|share|sharer|sharearticle|sharing)\b", re.IGNORECASE)
SOCIAL_HOSTS = ("twitter.com", "x.com", "facebook.com", "linkedin.com", "instagram.com", "youtube.com",
                "tiktok.com", "threads.net", "bsky.app", "pinterest.com", "reddit.com", "t.me", "wa.me",
                "mastodon.social", "whatsapp.com")
CONTENT_PATHS = ("watch", "shorts", "live", "p", "reel", "status", "posts", "video", "videos", "comments")
PROFILE_PATHS = ("company", "in", "channel", "c", "user", "pages", "groups", "school", "showcase")
# A section that opens with these words is an advertisement.
_SPONSORED = re.compile(r"\W*(sponsored|sponsor|advertisement|advertiser|presented by|together with|"
                        r"brought to you by|in partnership with|partner content|paid (post|content)|from our partners?)"
                        r"\b", re.IGNORECASE)
_FORWARD_HEADER = re.compile(r"^\s*(-{2,}\s*forwarded message\s*-{2,}|begin forwarded message:|"
                             r"(from|date|sent|subject|to|cc)\s*:\s)", re.IGNORECASE)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden|mso-hide\s*:\s*all|"
                           r"max-height\s*:\s*0(px)?\s*(;|$)|font-size\s*:\s*0(px)?\s*(;|$)|"
                           r"opacity\s*:\s*0(\.0*)?\s*(;|$)", re.IGNORECASE)
_BIG_FONT = re.compile(r"font-size\s*:\s*(\d+(?:\.\d+)?)\s*(px|pt)", re.IGNORECASE)
_BOLD_STYLE = re.compile(r"font-weight\s*:\s*(bold|[6-9]00)", re.IGNORECASE)
_LEADER = re.compile(r"^[\W\d_]{0,8}")  # bullets, numbering, emoji before a list item's words
_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"')\]]+")
_SENTENCE = re.compile(r"^(.{12,200}?[.!?…])(\s|$)")


# -- mail to entries --------------------------------------------------------------------------


@dataclass
class _Run:
    text: str
    href: str | None = None
    strong: bool = False


@dataclass
class _Block:
    runs: list[_Run] = field(default_factory=list)
    heading: bool = False
    image: str | None = None

    @property
    def text(self) -> str:
        return " ".join("".join(r.text for r in self.runs).split())

    def prose(self) -> str:
        """The block's words for a summary: without its "Read more", share and unsubscribe links."""
        words = {url: w for url, w in self._link_words()}
        kept = [r.text for r in self.runs
                if not r.href or (story_link(r.href, words[r.href]) and not generic(words[r.href]))]
        return " ".join("".join(kept).split()).strip(" |·•-–—")

    def _link_words(self) -> list[tuple[str, str]]:
        found: dict[str, list[str]] = {}
        for run in self.runs:
            if run.href:
                found.setdefault(run.href, []).append(run.text)
        return [(url, " ".join(" ".join(words).split())) for url, words in found.items()]

    def links(self) -> list[tuple[str, str]]:
        """(url, link text) of each story link in the block, in order, the words of one URL joined."""
        return [(url, words) for url, words in self._link_words() if words and story_link(url, words)]

    def story_links(self) -> list[tuple[str, str]]:
        """The links that stand for a story of their own: the block starts with the link, the link is
        the whole block, or its words are only "Read more". A link in mid-sentence is a reference."""
        start = _LEADER.sub("", self.text).casefold()
        return [(url, words) for url, words in self.links()
                if generic(words) or start.startswith(_LEADER.sub("", words).casefold())]

    def looks_like_heading(self) -> bool:
        text = self.text
        if not text or len(text) > HEADING_MAX_CHARS:
            return False
        return self.heading or all(r.strong for r in self.runs if r.text.strip())


def story_link(url: str, words: str) -> bool:
    """Might this link be a story, by its URL and its words? (Unsubscribe, share, legal: no.)"""
    if _DROP_TEXT.fullmatch(words.strip(" .:|·-–—»›→")):
        return False
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().removeprefix("www.").removeprefix("m.")
    if _DROP_PATH.search(parts.path) or "unsubscribe" in url.lower():
        return False
    if host in SOCIAL_HOSTS:
        segments = [s.lower() for s in parts.path.split("/") if s]
        # a profile (twitter.com/name, linkedin.com/company/name) or a share button; a post
        # (…/status/123) is a story
        profile = (len(segments) <= 1 or (segments[0] in PROFILE_PATHS and len(segments) <= 2)) \
            and not (segments and segments[0] in CONTENT_PATHS)
        return not profile and not _SHARE_PATH.search(parts.path)
    return True


def sponsored(text: str) -> bool:
    """An advertiser's label ("SPONSORED", "Together with Acme") or a section that opens with one."""
    match = _SPONSORED.match(text)
    return bool(match) and (len(text) <= SPONSOR_LABEL_CHARS or match[1].lower().startswith(("spons", "advert")))


def generic(words: str) -> bool:
    """Link words that only say "the story is there" ("Read more →", "here")."""
    return bool(_GENERIC.fullmatch(words.strip(" .:…()[]→»›>←«‹<-–—")))


def newsletter_entries(html: str, text: str, *, sender: str = "") -> list[RawEntry]:
    """The stories of one newsletter, from its HTML part, else its text part."""
    blocks = _html_blocks(html) if html.strip() else []
    entries = _from_blocks(blocks, sender) if blocks else _from_text(text, sender)
    by_page: dict[str, RawEntry] = {}
    for entry in entries:  # one story per page: the first mention wins, later words join its summary
        page = canonical_url(entry.link)
        if page in by_page:
            first = by_page[page]
            if entry.summary_html and entry.summary_html not in first.summary_html:
                first.summary_html += entry.summary_html
        else:
            by_page[page] = entry
    return list(by_page.values())[:MAX_ENTRIES]


def _html_blocks(html: str) -> list[_Block]:
    try:
        root = lxml_html.document_fromstring(strip_controls(html))
    except (etree.ParserError, ValueError, etree.LxmlError):
        return []
    blocks: list[_Block] = []
    current = _Block()

    def flush() -> None:
        nonlocal current
        if current.text or current.image:
            blocks.append(current)
        current = _Block()

    def walk(element: etree._Element, href: str | None, strong: bool, heading: bool, depth: int) -> None:
        nonlocal current
        if not isinstance(element.tag, str) or depth > 200:
            return
        tag = element.tag.lower()
        if tag in SKIP_TAGS or _hidden(element):
            return
        if tag in BLOCK_TAGS or (tag == "br" and current.runs and current.runs[-1].href):
            flush()
        style = element.get("style", "")
        if tag == "a":
            href = http_url(element.get("href")) or None
        strong = strong or tag in ("b", "strong") or bool(_BOLD_STYLE.search(style))
        big = _BIG_FONT.search(style)
        heading = heading or tag in HEADINGS or bool(big and float(big[1]) >= 18)
        if heading:
            current.heading = True
        if tag == "img":
            src = http_url(element.get("src"))
            if src and not is_pixel_image(src, element.get("width"), element.get("height")) and current.image is None:
                current.image = src
        if element.text:
            current.runs.append(_Run(element.text, href, strong))
        for child in element:
            walk(child, href, strong, heading, depth + 1)
            if child.tail:
                current.runs.append(_Run(child.tail, href, strong))
        if tag in BLOCK_TAGS:
            flush()

    body = root.find("body")
    walk(body if body is not None else root, None, False, False, 0)
    flush()
    return [b for b in blocks if not _FORWARD_HEADER.match(b.text)]


def _hidden(element: etree._Element) -> bool:
    return element.get("hidden") is not None or bool(_HIDDEN_STYLE.search(element.get("style", "")))


@dataclass
class _Section:
    heading: _Block | None
    body: list[_Block] = field(default_factory=list)


def _sections(blocks: list[_Block]) -> Iterator[_Section]:
    section = _Section(None)
    for block in blocks:
        if block.looks_like_heading() and section.heading is not None and section.heading.links() \
                and not section.body and not block.links():
            section.body.append(block)  # a subtitle under a linked title: part of the same story
        elif block.looks_like_heading():
            if section.heading is not None or section.body:
                yield section
            section = _Section(block)
        else:
            section.body.append(block)
    if section.heading is not None or section.body:
        yield section


def _from_blocks(blocks: list[_Block], sender: str) -> list[RawEntry]:
    entries: list[RawEntry] = []
    after_label = False
    for section in _sections(blocks):
        heading = section.heading
        opening = heading.text if heading is not None else section.body[0].text
        if sponsored(opening):
            # a bare "SPONSORED" label heads the advertiser's own section, which follows it
            after_label = heading is not None and not any(b.links() for b in section.body)
            continue
        if after_label:
            after_label = False
            continue
        body = [b for b in section.body if b.text and not sponsored(b.text)]
        heading_links = heading.links() if heading is not None else []
        linked = [b for b in body if b.story_links()]
        if heading is not None and (heading_links or len(linked) == 1):
            url = heading_links[0][0] if heading_links else linked[0].story_links()[0][0]
            paragraphs = [p for p in (b.prose() for b in body if b.text != heading.text)
                          if len(p.split()) >= MIN_PARAGRAPH_WORDS]
            image = heading.image or next((b.image for b in section.body if b.image), None)
            entries.append(_entry(heading.text, url, paragraphs, sender, image))
        else:
            entries += _linked_paragraphs(body, sender)
    return entries


def _linked_paragraphs(body: list[_Block], sender: str) -> list[RawEntry]:
    """Stories with no heading of their own: each block's links, titled by their words or the block's."""
    entries = []
    for i, block in enumerate(body):
        following = body[i + 1] if i + 1 < len(body) else None
        for url, words in block.story_links()[:3]:
            named = not generic(words) and len(words.split()) >= 2
            prose = block.prose()
            title = words if named else _first_sentence(prose) or words
            rest = prose[len(title):] if prose.startswith(title) else prose
            rest = rest.strip(" |·•:-–—")
            if rest:
                summary = [rest]
            elif following is not None and not following.links() and not following.looks_like_heading():
                summary = [following.prose()]  # a title link on its own line, its paragraph below it
            else:
                summary = []
            entries.append(_entry(title, url, summary, sender, block.image))
    return entries


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    match = _SENTENCE.match(text)
    if match:
        return match[1]
    words = text.split()
    return " ".join(words[:14]) + ("…" if len(words) > 14 else "")


def _entry(title: str, url: str, paragraphs: list[str], sender: str, image: str | None) -> RawEntry:
    kept, size = [], 0
    for paragraph in paragraphs:
        if size >= SUMMARY_MAX_CHARS:
            break
        kept.append(f"<p>{htmllib.escape(paragraph)}</p>")
        size += len(paragraph)
    return RawEntry(title=" ".join(title.split()), link=url, guid=url, author=sender,
                    summary_html="".join(kept), image=image)


def _from_text(text: str, sender: str) -> list[RawEntry]:
    """A text-only newsletter: each paragraph with a link is a story, titled by its first line."""
    entries = []
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", strip_controls(text)) if p.strip()]
    previous = ""
    for paragraph in paragraphs:
        urls = [u.rstrip(".,;:") for u in _URL_IN_TEXT.findall(paragraph)]
        words = " ".join(_URL_IN_TEXT.sub(" ", paragraph).split())
        story = next((u for u in urls if http_url(u) and story_link(u, words or "link")), None)
        if story and not _FORWARD_HEADER.match(paragraph) and not sponsored(words):
            lines = [ln.strip() for ln in _URL_IN_TEXT.sub(" ", paragraph).splitlines() if ln.strip(" -*•:")]
            title = lines[0].strip(" -*•:") if lines else previous
            rest = " ".join(lines[1:]) if lines else ""
            if title:
                entries.append(_entry(title, story, [rest] if rest else [], sender, None))
        previous = words if len(words) <= HEADING_MAX_CHARS else ""
    return entries


# -- the inbound endpoint's decision ------------------------------------------------------------


def receive_newsletter(store: Store, settings: Settings, fields: Mapping[str, str], now: datetime) -> str:
    """Turn one Inbound Parse post into articles of the newsletter feeds it is for; a one-line outcome."""
    subject = _subject(fields.get("subject", ""))
    feeds = _recipient_feeds(store, fields)
    if not feeds:
        return "ignored: no newsletter feed among the recipients"
    sender, why_not = authenticated_sender(fields)
    if sender is None:
        return f"ignored: {why_not} (subject {subject!r})"
    outcomes = []
    display = parseaddr(fields.get("from", "")[:2000])[0]
    for feed in feeds:
        if not _registered(feed, sender):
            why = "has no registered senders" if not feed.senders else f"does not take mail from {sender}"
            outcomes.append(f"ignored for {feed.id}: the newsletter {why} (subject {subject!r})")
            continue
        entries = newsletter_entries(fields.get("html", ""), fields.get("text", ""), sender=display or sender)
        # No article page is fetched while SendGrid waits (and a newsletter's links are often its
        # sender's click trackers, which a fetch would count as a reader's click): its own words stay.
        result = store_entries(store, settings, feed.model_copy(update={"full_text": "never"}),
                               feed.name or display or sender, entries, now)
        state = store.feed_state(feed.id)
        state.last_fetched_at = state.last_ok_at = now
        state.articles_total += result.new
        store.save_feed_state(feed.id, state)
        outcomes.append(f"{feed.id}: {result.new} new, {result.duplicates} duplicates from {sender} "
                        f"(subject {subject!r})")
    return "; ".join(outcomes)


def _registered(feed: Feed, sender: str) -> bool:
    domain = sender.rpartition("@")[2]
    return sender in feed.senders or f"@{domain}" in feed.senders


def _recipient_feeds(store: Store, fields: Mapping[str, str]) -> list[Feed]:
    to = mail_envelope(fields).get("to")
    addresses = [a for a in to if isinstance(a, str)] if isinstance(to, list) else []
    addresses += [a for _, a in getaddresses([fields.get("to", "")[:5000], fields.get("cc", "")[:5000]])]
    feeds: dict[str, Feed] = {}
    for address in addresses:
        local = address.rpartition("@")[0].rpartition("+")[2].lower()
        if not SLUG.fullmatch(local) or local in feeds:
            continue
        try:
            feed = store.get_feed(local)
        except NotFound:
            continue
        if feed.kind == "newsletter":
            feeds[local] = feed
        if len(feeds) >= MAX_FEEDS:
            break
    return list(feeds.values())


def _subject(raw: str) -> str:
    """The subject as shown in outcomes and logs: decoded, one line, no control characters, short."""
    return " ".join(strip_controls(mail_subject(raw[:500])).split())[:200]


def inbound_address(settings: Settings, feed_id: str) -> str:
    """The address to subscribe to newsletters for this feed."""
    return f"news+{feed_id}@{settings.newsletter_inbound_domain or 'NEWSLETTER_INBOUND_DOMAIN'}"
