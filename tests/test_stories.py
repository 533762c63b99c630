"""Stories: one event from several sources shown once, with ids that last and editors' decisions kept."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

from lxml import html as lxml_html

from digest.issue import build_issue, next_issue
from digest.models import Article
from digest.topics.grouping import group_stories
from digest.topics.stories import Doc, Settings, cluster
from tests.factories import file_as

NOW = datetime.now(timezone.utc)

QUAKE_A = [
    ("Magnitude 6.1 earthquake strikes near Coquimbo, Chile",
     "A magnitude 6.1 earthquake struck near the Chilean port of Coquimbo on Tuesday morning, shaking buildings "
     "in La Serena. Chile's emergency office reported no deaths; the navy ruled out a tsunami."),
    ("Chile: strong quake shakes Coquimbo and La Serena",
     "The 6.1 earthquake near Coquimbo cut power to thousands of homes in La Serena, Chile's emergency office "
     "said. The navy said there was no tsunami risk along the coast."),
    ("No tsunami after Coquimbo earthquake, Chilean navy says",
     "Chile's navy said the magnitude 6.1 earthquake off Coquimbo would not cause a tsunami. Power was being "
     "restored in La Serena, the emergency office said."),
]
QUAKE_B = [
    ("Earthquake of magnitude 5.8 hits Iran's Kerman province",
     "A 5.8 earthquake hit Kerman province in southern Iran, damaging villages near Rafsanjan. The Red Crescent "
     "sent rescue teams; two people were injured, state media said."),
    ("Iran: villages near Rafsanjan damaged by Kerman quake",
     "Rescue teams of the Red Crescent reached villages near Rafsanjan after the magnitude 5.8 earthquake in "
     "Kerman province, Iranian state media reported."),
]


def docs(pairs: list[tuple[str, str]], when: datetime = NOW) -> list[Doc]:
    return [Doc(title, text, when) for title, text in pairs]


def test_the_same_event_merges_and_two_earthquakes_stay_apart():
    labels = cluster(docs(QUAKE_A) + docs(QUAKE_B))
    assert labels[:3] == [labels[0]] * 3 and labels[3:] == [labels[3]] * 2
    assert labels[0] != labels[3]


def test_a_syndicated_copy_merges_first_and_events_weeks_apart_never():
    copy = [(QUAKE_A[0][0], QUAKE_A[0][1] + " (AP)")]
    assert len(set(cluster(docs(QUAKE_A[:1]) + docs(copy)))) == 1
    later = docs(QUAKE_A[:1]) + docs(QUAKE_A[1:2], NOW + timedelta(days=30))
    assert len(set(cluster(later))) == 2


def test_editors_links_win_over_the_clustering():
    both = docs(QUAKE_A) + docs(QUAKE_B)
    apart = cluster(both, Settings(cannot={(0, 1), (0, 2)}))
    assert apart[0] not in (apart[1], apart[2]) and apart[1] == apart[2]
    joined = cluster(both, Settings(must={(0, 3)}))
    assert joined[0] == joined[3]


def test_documents_in_different_blocks_never_share_a_story():
    labels = cluster(docs(QUAKE_A), blocks=["world", "world", "science"])
    assert labels[0] == labels[1] != labels[2]


def article(n: int, title: str, text: str, source: str, hours_ago: float = 1) -> Article:
    url = f"https://{source.lower().replace(' ', '')}.example/{n}"
    return Article(id=hashlib.sha1(url.encode()).hexdigest(), feed_id="planet", source=source, title=title,
                   url=url, guid=url, published=NOW - timedelta(hours=hours_ago), summary_text=text,
                   content_hash=url)


def seed_quakes(store) -> list[Article]:  # type: ignore[no-untyped-def]
    made = [article(i, t, x, s) for i, ((t, x), s) in enumerate(zip(QUAKE_A + QUAKE_B,
            ["Wire", "Daily", "Herald", "Wire", "Daily"], strict=True))]
    made.append(article(9, "Orchestra tours the coast", "The city orchestra plays six towns in a week.", "Wire"))
    for a in made:
        store.save_article(a, 86400)
    file_as(store, made, "climate")
    return made


def test_the_email_shows_each_story_once_with_also_covered_by(store, settings, weekly):
    seed_quakes(store)
    content, rendered = next_issue(store, settings, "weekly")
    [section] = content.sections
    assert sorted(s.sources for s in section.stories) == [1, 2, 3]
    assert section.stories[0].sources == 3  # the most-covered story leads the section
    html, text = rendered.assemble(None)
    assert html.count('class="card"') == 3
    assert html.count("Also covered by") == 2 and text.count("Also covered by") == 2
    lead = section.stories[0]
    also = lxml_html.document_fromstring(html).find_class("also")
    links = {(a.get("href"), a.text_content()) for p in also for a in p.iter("a")}
    for other in lead.also:
        assert (other.url, other.source) in links and f"- {other.source}\n      {other.url}\n" in text


def test_a_story_keeps_its_id_when_an_article_joins_it_later(store, settings, weekly):
    made = seed_quakes(store)
    first = build_issue(store, settings, weekly, NOW)
    chile = next(s for s in first.sections[0].stories if made[0].id in {a.id for a in s.articles})
    late = article(20, "Coquimbo earthquake: La Serena restores power", "Power is back in La Serena after the "
                   "magnitude 6.1 earthquake near Coquimbo, Chile's emergency office said.", "Gazette", 0.1)
    store.save_article(late, 86400)
    file_as(store, [late], "climate")
    second = build_issue(store, settings, weekly, NOW + timedelta(hours=1))
    again = next(s for s in second.sections[0].stories if late.id in {a.id for a in s.articles})
    assert again.id == chile.id and again.sources == 4


def test_editors_split_merge_and_pin_through_the_command_line(store, settings, weekly, tmp_path):
    import subprocess
    import sys

    from tests.workers import worker_env

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", "from digest.cli import main; main()", *args],
                              env=worker_env(settings), capture_output=True, text=True, timeout=60)

    made = seed_quakes(store)
    listing = run("stories", "ls", "weekly")
    assert listing.returncode == 0, listing.stderr
    stories = {s.id: s for s in build_issue(store, settings, weekly, NOW).sections[0].stories}
    chile = next(s for s in stories.values() if made[0].id in {a.id for a in s.articles})
    iran = next(s for s in stories.values() if made[3].id in {a.id for a in s.articles})
    assert chile.id in listing.stdout and made[0].id[:12] in listing.stdout
    assert f"{made[0].id[:12]}  [climate 1.00]  Wire: {made[0].title}" in listing.stdout

    r = run("stories", "split", "weekly", chile.id, made[2].id[:12])
    assert r.returncode == 0, r.stderr
    after = build_issue(store, settings, weekly, NOW).sections[0].stories
    alone = next(s for s in after if made[2].id in {a.id for a in s.articles})
    assert [a.id for a in alone.articles] == [made[2].id]  # it sticks, run after run
    assert next(s for s in after if made[0].id in {a.id for a in s.articles}).id == chile.id

    r = run("stories", "merge", "weekly", chile.id, iran.id)
    assert r.returncode == 0, r.stderr
    merged = build_issue(store, settings, weekly, NOW).sections[0].stories
    both = next(s for s in merged if made[0].id in {a.id for a in s.articles})
    assert {made[3].id, made[4].id} <= {a.id for a in both.articles}
    assert made[2].id not in {a.id for a in both.articles}  # the split still holds

    orchestra = next(s for s in merged if s.sources == 1 and made[5].id in {a.id for a in s.articles})
    assert run("stories", "pin", "weekly", orchestra.id).returncode == 0
    assert build_issue(store, settings, weekly, NOW).sections[0].stories[0].id == orchestra.id
    bad = run("stories", "merge", "weekly", chile.id, "s-nothere")
    assert bad.returncode == 1 and "unknown story" in bad.stderr
    # the same decisions as the editors' app, in the same audit log (newest first)
    from digest import audit
    from digest.editors import corrections

    logged = audit.entries(store, "weekly")
    assert [e.action for e in logged] == [corrections.PIN, corrections.MERGE, corrections.SPLIT]
    assert {e.account for e in logged} == {"command line"}


def test_ranking_puts_widely_covered_stories_first_then_fresh_ones(store, settings, weekly):
    one_fresh = article(30, "Fresh single report", "Only one outlet has this so far.", "Wire", 0.1)
    one_old = article(31, "Older single report", "An older piece nobody else covered.", "Daily", 100)
    stories = group_stories(store, "weekly", {"climate": [one_old, one_fresh]}, NOW, timedelta(days=7), 3600)
    assert [s.lead.id for s in stories["climate"]] == [one_fresh.id, one_old.id]
