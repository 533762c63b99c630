"""Corrections of the next issue (digest/editors/corrections.py): through the real store, the real
grouping and the real renderer, as the preview and the sender see them."""

from __future__ import annotations

import email
from email import policy

import pytest

from digest import audit
from digest.deliver.ledger import Ledger
from digest.deliver.outbox import OutboxSender
from digest.deliver.send import prepare_issue, send_inline
from digest.editors import corrections
from digest.errors import InvalidInput, NotFound
from digest.issue import next_issue
from digest.render import RenderedIssue
from tests.factories import readers
from tests.test_stories import article, seed_quakes

ED = "ed@example.com"


def stories_of(store, settings):  # type: ignore[no-untyped-def]
    """The next issue's first section: (story id, article ids) in order."""
    content = corrections.next_content(store, settings, "weekly")
    return [(s.id, [a.id for a in s.articles]) for s in content.sections[0].stories]


def story_with(store, settings, article_id):  # type: ignore[no-untyped-def]
    return next(s for s, ids in stories_of(store, settings) if article_id in ids)


def email_of(store, settings, topics=None):  # type: ignore[no-untyped-def]
    """(subject, html, text) of the next issue as the preview renders it."""
    _, rendered = next_issue(store, settings, "weekly")
    html, text = rendered.assemble(topics)
    return rendered.subject_for(topics), html, text


def test_an_excluded_article_leaves_the_issue_but_stays_collected(store, settings, weekly):
    made = seed_quakes(store)
    lead = made[0]
    _, html, _ = email_of(store, settings)
    assert lead.title in html
    corrections.exclude(store, settings, "weekly", lead.id[:12], ED)  # a prefix, as `stories ls` shows
    _, html, text = email_of(store, settings)
    assert lead.title not in html and lead.title not in text  # the preview changes at once
    chile = story_with(store, settings, made[1].id)
    assert lead.id not in {i for _, ids in stories_of(store, settings) for i in ids}
    assert len(dict(stories_of(store, settings))[chile]) == 2  # its story goes on without it
    assert store.get_articles([lead.id]) == [lead]  # still collected
    with pytest.raises(NotFound):  # not in the issue any more
        corrections.exclude(store, settings, "weekly", lead.id, ED)
    corrections.include(store, "weekly", lead.id, ED)
    assert lead.title in email_of(store, settings)[1]
    with pytest.raises(NotFound):
        corrections.include(store, "weekly", lead.id, ED)
    assert [e.action for e in audit.entries(store, "weekly")] == [corrections.INCLUDE, corrections.EXCLUDE]
    assert audit.entries(store, "weekly")[0].account == ED


def test_an_article_of_another_list_or_none_cannot_be_excluded(store, settings, weekly):
    seed_quakes(store)
    stray = article(77, "Not in this list's window", "Old news.", "Wire", hours_ago=24 * 30)
    store.save_article(stray, 86400)
    for name in (stray.id, "", "0" * 40, "*"):
        with pytest.raises(NotFound):
            corrections.exclude(store, settings, "weekly", name, ED)
    assert store.draft("weekly").is_empty


def test_explicit_order_beats_the_ranking_and_a_pin_takes_over_again(store, settings, weekly):
    made = seed_quakes(store)
    orchestra = story_with(store, settings, made[5].id)
    assert [s for s, _ in stories_of(store, settings)][-1] == orchestra  # one source: ranked last
    assert corrections.move_story(store, settings, "weekly", orchestra, -1, ED) == 1
    assert corrections.move_story(store, settings, "weekly", orchestra, -1, ED) == 0
    assert corrections.move_story(store, settings, "weekly", orchestra, -1, ED) == 0  # first stays first
    order = [s for s, _ in stories_of(store, settings)]
    assert order[0] == orchestra
    _, html, text = email_of(store, settings)
    assert html.index(made[5].title) < html.index(made[0].title)  # the email follows
    assert text.index("Orchestra tours") < text.index("Coquimbo")
    # a new story arriving later does not move the placed ones
    late = article(40, "Harbour festival opens", "The harbour festival opened with fireworks.", "Gazette", 0.1)
    store.save_article(late, 86400)
    from tests.factories import file_as
    file_as(store, [late], "climate")
    assert [s for s, _ in stories_of(store, settings)][:3] == order
    # pinning gives the section back to the ranking, pinned story first
    chile = story_with(store, settings, made[0].id)
    corrections.pin(store, settings, "weekly", chile, ED)
    assert [s for s, _ in stories_of(store, settings)][0] == chile
    assert store.draft("weekly").order == {}
    corrections.pin(store, settings, "weekly", chile, ED, on=False)
    assert chile not in store.pins("weekly")
    with pytest.raises(NotFound):
        corrections.move_story(store, settings, "weekly", "s-nothere", 1, ED)
    got = corrections.order_section(store, settings, "weekly", "climate", [orchestra], ED)
    assert got[0] == orchestra and [s for s, _ in stories_of(store, settings)] == got
    with pytest.raises(NotFound):
        corrections.order_section(store, settings, "weekly", "climate", ["s-nothere"], ED)


def test_subject_preheader_and_intro_show_in_every_variant_as_plain_text(store, settings, weekly):
    seed_quakes(store)
    made_subject, _, _ = email_of(store, settings)
    changed = corrections.edit_wording(store, "weekly", ED, subject="Quakes & 100% of the <news>",
                                       preheader="Two <b>earthquakes</b>, one tour", intro="Dear readers,\n\n"
                                       "<script>alert(1)</script> this week\twas loud.")
    assert set(changed) == {"subject", "preheader", "intro"}
    for topics in (None, {"climate"}):
        subject, html, text = email_of(store, settings, topics)
        assert subject == "Quakes & 100% of the <news>"  # a header: no markup, no %-formatting
        assert "Two &lt;b&gt;earthquakes&lt;/b&gt;, one tour" in html and "<b>earthquakes" not in html
        assert "Dear readers, &lt;script&gt;alert(1)&lt;/script&gt; this week was loud." in html
        assert "<script>" not in html
        assert "Dear readers, <script>alert(1)</script> this week was loud." in text  # text is text
    corrections.edit_wording(store, "weekly", ED, subject="", preheader="", intro="")
    subject, html, _ = email_of(store, settings)
    assert subject == made_subject and "one tour" not in html and "Dear readers" not in html
    assert store.draft("weekly").is_empty
    assert corrections.edit_wording(store, "weekly", ED, subject="") == {}  # nothing changed, nothing recorded
    assert [e.action for e in audit.entries(store, "weekly")] == [corrections.WORDING] * 2


@pytest.mark.parametrize("subject", ["Hello\r\nBcc: victim@example.com", "Hello\nthere", "Hello\rthere",
                                     "Line\u2028separator", "nul\x00", "tab\there", "x" * 71])
def test_a_subject_with_a_line_break_control_character_or_too_long_is_refused(store, settings, weekly, subject):
    seed_quakes(store)
    with pytest.raises(InvalidInput):
        corrections.edit_wording(store, "weekly", ED, subject=subject)
    with pytest.raises(InvalidInput):
        corrections.edit_wording(store, "weekly", ED, preheader=subject if len(subject) < 70 else "p" * 151)
    assert store.draft("weekly").is_empty and audit.entries(store, "weekly") == []


def test_an_intro_longer_than_the_lists_own_limit_is_refused(store, settings, weekly):
    with pytest.raises(InvalidInput):
        corrections.edit_wording(store, "weekly", ED, intro="word " * 201)
    assert store.draft("weekly").is_empty


def test_the_planned_issue_carries_the_edits_which_are_then_cleared(store, settings, weekly):
    made = seed_quakes(store)
    store.add_subscribers("weekly", readers(2, [None]))
    orchestra = story_with(store, settings, made[5].id)
    corrections.exclude(store, settings, "weekly", made[3].id, ED)
    corrections.move_story(store, settings, "weekly", orchestra, -5, ED)
    corrections.edit_wording(store, "weekly", ED, subject="Edited subject", preheader="Edited preheader",
                             intro="Edited intro")
    preview_subject, preview_html, _ = email_of(store, settings)
    plan = prepare_issue(store, settings, "weekly")
    assert Ledger(store).meta(plan.issue_id)["subject"] == "Edited subject" == preview_subject
    stored = RenderedIssue.from_json(Ledger(store).rendered_json(plan.issue_id))  # what the senders read
    html, text = stored.assemble(None)
    assert stored.subject == "Edited subject" and "Edited preheader" in html and "Edited intro" in text
    assert made[3].title not in html and html.index(made[5].title) < html.index(made[0].title)
    assert made[3].id not in store.issued("weekly", [made[3].id])
    assert store.draft("weekly").is_empty  # cleared: they were for that issue
    send_inline(store, settings, OutboxSender(settings.outbox_dir), plan.issue_id)
    sent = sorted((settings.outbox_dir / plan.issue_id).glob("*.eml"))
    assert len(sent) == 2
    message = email.message_from_bytes(sent[0].read_bytes(), policy=policy.default)
    assert message["Subject"] == "Edited subject"
    # the excluded article stayed collected: the following issue has it, and no edits
    content, rendered = next_issue(store, settings, "weekly")
    assert [a.id for a in content.articles] == [made[3].id]
    assert rendered.subject != "Edited subject" and not content.digest_list.intro


def test_an_edit_made_while_the_issue_was_planned_waits_for_the_next_one(store, settings, weekly):
    seed_quakes(store)
    corrections.edit_wording(store, "weekly", ED, subject="First")
    built_from = store.draft("weekly").rev
    corrections.edit_wording(store, "weekly", ED, subject="Second")  # after the issue was built
    assert not store.clear_draft("weekly", built_from)
    assert store.draft("weekly").subject == "Second"
    assert store.clear_draft("weekly", store.draft("weekly").rev) and store.draft("weekly").is_empty
    assert store.clear_draft("weekly", 0)  # nothing to clear: fine


def test_split_and_merge_stick(store, settings, weekly):
    made = seed_quakes(store)
    chile = story_with(store, settings, made[0].id)
    iran = story_with(store, settings, made[3].id)
    corrections.split(store, settings, "weekly", chile, [made[2].id], ED)
    assert dict(stories_of(store, settings))[story_with(store, settings, made[2].id)] == [made[2].id]
    with pytest.raises(InvalidInput):  # all of a story's articles: nothing to split from
        corrections.split(store, settings, "weekly", iran, [made[3].id, made[4].id], ED)
    with pytest.raises(NotFound):  # an article of another story
        corrections.split(store, settings, "weekly", iran, [made[0].id], ED)
    corrections.merge(store, settings, "weekly", [chile, iran], ED)
    both = dict(stories_of(store, settings))[story_with(store, settings, made[0].id)]
    assert {made[0].id, made[1].id, made[3].id, made[4].id} == set(both)  # the split still holds
    with pytest.raises(InvalidInput):
        corrections.merge(store, settings, "weekly", [chile, chile], ED)
    assert [e.action for e in audit.entries(store, "weekly")] == [corrections.MERGE, corrections.SPLIT]


def test_moving_an_article_to_a_topic_teaches_the_list_and_undo_takes_it_back(store, settings, weekly):
    made = seed_quakes(store)
    corrections.move_to_topic(store, settings, "weekly", made[5].id, "space", ED)
    content = corrections.next_content(store, settings, "weekly")
    space = next(s for s in content.sections if s.slug == "space")
    assert made[5].id in {a.id for st in space.stories for a in st.articles}
    assert content.filings[made[5].id].by == "editor"
    assert made[5].title in email_of(store, settings, {"space"})[1]  # the preview's Space section
    with pytest.raises(NotFound):
        corrections.move_to_topic(store, settings, "weekly", made[5].id, "cooking", ED)
    event = corrections.undo_topic(store, "weekly", ED)
    assert event is not None and event["after"]["topic"] == "space"
    assert corrections.next_content(store, settings, "weekly").filings[made[5].id].by != "editor"
    assert corrections.undo_topic(store, "weekly", ED) is None
    assert [e.action for e in audit.entries(store, "weekly")] == [corrections.UNDO_TOPIC, corrections.MOVE_TOPIC]


def test_the_command_line_edits_excludes_includes_and_orders(store, settings, weekly, run):
    made = seed_quakes(store)
    r = run("issues", "edit", "weekly", "--subject", "From the shell", "--intro", "Hi")
    assert r.returncode == 0, r.stderr
    assert store.draft("weekly").subject == "From the shell" and store.draft("weekly").intro == "Hi"
    r = run("issues", "edit", "weekly")
    assert "subject: From the shell" in r.stdout and "preheader: (as usual)" in r.stdout
    r = run("issues", "edit", "weekly", "--subject", "Bad\nsubject")
    assert r.returncode == 1 and "one line" in r.stderr and store.draft("weekly").subject == "From the shell"
    r = run("issues", "exclude", "weekly", made[0].id[:12])
    assert r.returncode == 0, r.stderr
    assert store.draft("weekly").excluded == {made[0].id} and made[0].title in r.stdout
    r = run("issues", "include", "weekly", made[0].id[:12])
    assert r.returncode == 0 and store.draft("weekly").excluded == set()
    orchestra = story_with(store, settings, made[5].id)
    r = run("issues", "order", "weekly", "climate", orchestra)
    assert r.returncode == 0, r.stderr
    assert stories_of(store, settings)[0][0] == orchestra
    r = run("issues", "order", "weekly", "climate")  # no stories: ranked again
    assert r.returncode == 0 and store.draft("weekly").order == {}
    assert run("issues", "exclude", "weekly", "ffffffffffff").returncode == 1
    assert {e.account for e in audit.entries(store, "weekly")} == {"command line"}
