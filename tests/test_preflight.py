"""Preflight: each check fires on a broken or hostile email and stays silent on a good one;
the derived caniemail data; the shipped issue passes; the command's exit code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from digest.issue import next_issue_email
from digest.links import preview_token
from digest.preflight import Report, blocking, caniemail, preflight, preflight_next_issue
from digest.preflight.checks import GMAIL_CLIP_BYTES, tracking_growth
from digest.preflight.derive import CLIENTS, LICENSE_OUTPUT, OUTPUT, derive, licence_text, source_commit
from tests.factories import article, file_as, seed_week

UNSUB = "https://digest.example/u/tok.en"
TEXT = f"The Weekly Planet\n\nA story.\n\nUnsubscribe:\n{UNSUB}\n"


def email(body: str, *, lang: str = ' lang="en"', head: str = "") -> str:
    """A small good email around `body`: language, layout table, footer with the unsubscribe link."""
    return f"""<!DOCTYPE html>
<html{lang}><head><meta charset="utf-8"><title>The Weekly Planet</title>{head}</head>
<body>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">
<tr><td style="padding:16px; font-family:Arial, sans-serif; font-size:16px; color:#374151; background-color:#ffffff">
<h1 style="font-size:32px; color:#111827">The Weekly Planet</h1>
<h2 style="font-size:24px; color:#111827">Space</h2>
<h3 style="font-size:20px"><a href="https://news.example/1" style="color:#1d4ed8">A probe lands</a></h3>
<p>It landed. <a href="https://news.example/1">
<img src="https://img.example/1.jpg" alt="A probe lands" width="96"></a></p>
{body}
</td></tr>
<tr><td class="footer" style="padding:24px; font-size:14px; color:#4b5563; background-color:#f3f4f6">
<p>Planet Media, 1 Orbit Road</p><p><a href="{UNSUB}" style="color:#1f2937">Unsubscribe</a></p>
</td></tr></table></body></html>"""


def codes(report: Report) -> dict[str, str]:
    return {f.code: f.severity for f in report.findings}


def check(html: str, text: str = TEXT, **kw: object) -> Report:
    return preflight(html, text, unsubscribe_url=UNSUB, **kw)  # type: ignore[arg-type]


def test_a_good_email_has_no_findings_at_all():
    report = check(email(""))
    assert report.findings == [] and not blocking(report)
    assert 0 < report.html_bytes < report.estimated_bytes and report.links == 3


# -- size --------------------------------------------------------------------------------------

def test_an_email_over_gmails_clip_blocks_and_one_near_it_warns():
    filler = "<p>" + "word " * 20 + "</p>\n"
    over = email(filler * (GMAIL_CLIP_BYTES // len(filler) + 10))
    assert codes(check(over))["size-clip"] == "block"
    near = email(filler * int(GMAIL_CLIP_BYTES * 0.93 // len(filler)))
    assert codes(check(near, click_tracking=False)) == {"size-near-clip": "warn"}


def test_sendgrids_link_rewriting_counts_toward_the_clip():
    link = '<p><a href="https://news.example/a-rather-long-path/to-a-story?id=12345">A story</a></p>\n'
    html = email(link * 300)
    assert len(html.encode()) < GMAIL_CLIP_BYTES * 0.9  # the HTML alone is well under
    assert codes(check(html, click_tracking=False)) == {}
    tracked = check(html)
    assert tracked.links == 303 and codes(tracked)["size-clip"] == "block"
    assert tracked.estimated_bytes - tracked.html_bytes >= 300 * tracking_growth("https://news.example/x")
    untracked = html.replace('<a href="https://news.example/a-rather', '<a clicktracking="off" '
                                                                        'href="https://news.example/a-rather')
    assert check(untracked).links == 3  # SendGrid leaves those alone


# -- client support ----------------------------------------------------------------------------

def test_content_a_main_client_cannot_show_blocks():
    data = caniemail()
    assert "gmail-web" in data.unsupported("css-variables") and "gmail-web" in data.unsupported("image-svg")
    for body in ('<p style="color: var(--ink)">Styled by a variable</p>',
                 '<div style="position:absolute; top:0">Floating</div>',
                 '<video src="https://v.example/a.mp4"></video>',
                 '<p><img src="https://img.example/logo.svg" alt="Logo"></p>'):
        report = check(email(body))
        assert codes(report).get("client-unsupported") == "block", body
        finding = next(f for f in report.findings if f.code == "client-unsupported")
        assert "Gmail" in finding.message and "line" in finding.where


def test_what_only_outlook_for_windows_lacks_warns_and_what_it_never_sees_is_silent():
    assert codes(check(email('<div style="display:grid">Grid</div>'))) == {"outlook-windows-unsupported": "warn"}
    assert codes(check(email('<p style="opacity:0.9">Faded</p>'))) == {"outlook-windows-ignores": "warn"}
    hidden_from_outlook = '<div style="mso-hide:all; display:none; opacity:0; max-height:0; overflow:hidden">pre</div>'
    assert codes(check(email(hidden_from_outlook))) == {}


def test_cosmetics_some_clients_drop_warn_in_one_finding_and_loading_at_rules_warn():
    report = check(email('<p style="box-shadow: 0 0 2px #000">Shadow</p><p><a href="#top">Top</a></p>'
                         '<p id="top">here</p>'))
    assert codes(report) == {"client-ignores": "warn"}
    assert "box-shadow" in report.findings[0].message and "Local anchors" in report.findings[0].message
    font = "<style>@font-face { font-family: Brand; src: url(https://f.example/b.woff2) }</style>"
    assert codes(check(email("", head=font))) == {"client-unsupported": "warn"}
    kept = "<style>@media (prefers-color-scheme: dark) { .x:hover { color: #fff !important } }</style>"
    assert codes(check(email("", head=kept))) == {}  # a kept block is enhancement by construction


# -- accessibility -----------------------------------------------------------------------------

def test_a_missing_or_bogus_language_blocks():
    assert codes(check(email("", lang="")))["lang-missing"] == "block"
    assert codes(check(email("", lang=' lang="english please"')))["lang-missing"] == "block"
    assert "lang-missing" not in codes(check(email("", lang=' lang="pt-BR"')))


def test_layout_tables_without_a_role_warn_and_data_tables_do_not():
    layout = '<table><tr><td>Layout</td></tr></table>'
    assert codes(check(email(layout))) == {"table-role": "warn"}
    data = '<table><tr><th>Rank</th></tr><tr><td>1</td></tr></table>'
    assert codes(check(email(data))) == {}


def test_images_need_alt_and_a_linked_image_needs_a_name():
    assert codes(check(email('<img src="https://img.example/2.jpg">')))["img-alt-missing"] == "block"
    assert codes(check(email('<img src="https://img.example/2.jpg" alt="">'))) == {}  # decorative
    nameless = '<a href="https://news.example/2"><img src="https://img.example/2.jpg" alt=""></a>'
    assert codes(check(email(nameless)))["link-no-name"] == "block"


def test_text_under_aa_contrast_blocks_large_text_needs_less():
    report = check(email('<p style="color:#999999">Grey on white</p>'))
    assert codes(report) == {"contrast": "block"}
    assert "#999999 on #ffffff" in report.findings[0].message and "2.85:1" in report.findings[0].message
    assert codes(check(email('<p style="color:#767676; font-size:24px">Large grey</p>'))) == {}
    assert codes(check(email('<p style="color:#767676; font-size:16px">Small grey</p>'))) == {}  # 4.54:1
    dark = '<table role="presentation"><tr><td bgcolor="#1f2937"><p style="color:#374151">Dim</p></td></tr></table>'
    assert codes(check(email(dark))) == {"contrast": "block"}
    translucent = '<p style="background-color: rgba(0,0,0,0.5); color:#333">Unknown backdrop</p>'
    assert "contrast" not in codes(check(email(translucent)))  # cannot be judged: no guess
    assert "contrast" not in codes(check(email('<p style="color: var(--ink); background:#000">Var</p>')))


def test_small_text_warns_tiny_text_blocks_hidden_text_is_not_read():
    assert codes(check(email('<p style="font-size:12px">Fine print</p>'))) == {"font-size-small": "warn"}
    assert codes(check(email('<p style="font-size:7pt">Tiny print</p>'))) == {"font-size-small": "block"}
    assert codes(check(email('<p style="font-size:0.5em">Half</p>'))) == {"font-size-small": "block"}
    preheader = '<div style="display:none; font-size:1px; color:#ffffff">Preheader</div>'
    assert codes(check(email(preheader))) == {}


# -- links, unsubscribe, text part, sections ----------------------------------------------------

@pytest.mark.parametrize("href,code", [
    ("/archive/weekly", "link-relative"), ("", "link-relative"), ("news.example/1", "link-relative"),
    ("https://", "link-relative"), ("http://news.example/1", "link-not-https"),
    ("javascript:alert(1)", "link-not-https"), ("JaVaScRiPt:alert(1)", "link-not-https"),
    ("data:text/html,<b>x</b>", "link-not-https"), ("file:///etc/passwd", "link-not-https"),
])
def test_relative_and_non_https_links_block(href, code):
    report = check(email(f'<p><a href="{href}">Somewhere</a></p>'))
    assert codes(report) == {code: "block"}
    assert repr(href)[1:-1][:20] in report.findings[0].where


def test_safe_links_pass_and_a_loopback_base_url_only_warns():
    safe = '<p><a href="mailto:editor@planet.example">Write</a> <a href="tel:+15551234">Call</a></p>'
    assert codes(check(email(safe))) == {}
    local = '<p><a href="http://127.0.0.1:8000/archive/weekly">Archive</a></p>'
    assert codes(check(email(local), local_origin="http://127.0.0.1:8000")) == {"link-local-http": "warn"}
    assert codes(check(email(local), local_origin="http://digest.example")) == {"link-not-https": "block"}
    tricky = '<p><a href="http://127.0.0.1:8000.evil.example/x">Archive</a></p>'
    assert codes(check(email(tricky), local_origin="http://127.0.0.1:8000")) == {"link-not-https": "block"}
    assert codes(check(email('<p><a href="#nowhere">Jump</a></p>')))["anchor-missing"] == "warn"


def test_images_from_relative_addresses_block_and_from_http_warn():
    assert codes(check(email('<img src="/img/1.jpg" alt="One">'))) == {"image-relative": "block"}
    assert codes(check(email('<img src="http://img.example/1.jpg" alt="One">'))) == {"image-not-https": "warn"}


def test_a_missing_or_hidden_unsubscribe_link_blocks():
    gone = email("").replace(UNSUB, "https://digest.example/p/tok.en")
    assert codes(check(gone))["unsubscribe-missing"] == "block"
    hidden = gone.replace("</body>", f'<div style="display:none"><a href="{UNSUB}">Unsubscribe</a></div></body>')
    assert codes(check(hidden))["unsubscribe-missing"] == "block"
    nothing_asked = preflight(email(""), TEXT, unsubscribe_url="")
    assert codes(nothing_asked) == {"unsubscribe-missing": "block", "text-unsubscribe-missing": "block"}


def test_a_missing_text_part_or_one_without_the_unsubscribe_url_blocks():
    assert codes(check(email(""), text=" \n")) == {"text-missing": "block"}
    assert codes(check(email(""), text="The Weekly Planet\nA story.\n")) == {"text-unsubscribe-missing": "block"}


def test_a_section_with_nothing_under_its_heading_blocks():
    between = '<h2 style="font-size:24px">Markets</h2><h2 style="font-size:24px">Climate</h2><p>Warm.</p>'
    report = check(email(between))
    assert codes(report) == {"section-empty": "block"} and "'Markets'" in report.findings[0].message
    last = '<h2 style="font-size:24px">Climate</h2>'  # then the footer
    assert codes(check(email(last))) == {"section-empty": "block"}
    only_hidden = '<h2 style="font-size:24px">Climate</h2><p style="display:none">Warm.</p>'
    assert codes(check(email(only_hidden))) == {"section-empty": "block"}
    pictured = '<h2 style="font-size:24px">Climate</h2><img src="https://img.example/3.jpg" alt="Ice">'
    assert codes(check(email(pictured))) == {}


def test_what_is_not_html_blocks_and_hostile_nesting_does_not_crash():
    assert {"html-missing", "unsubscribe-missing"} <= set(codes(check("")))
    deep = "<div>" * 20000 + "deep" + "</div>" * 20000
    check(email(deep))  # lxml caps the depth; the walk is iterative: no RecursionError
    assert check(email("<p>&#0; \x00 <b>unclosed <i>tags</p>")).findings is not None


# -- the derived data --------------------------------------------------------------------------

def test_the_shipped_caniemail_data_loads_from_the_package_and_is_small():
    assert OUTPUT.parent == Path(__file__).resolve().parents[1] / "digest" / "preflight"
    assert OUTPUT.stat().st_size < 60 * 1024
    data = caniemail()
    assert list(data.clients) == [key for key, *_ in CLIENTS]
    assert len(data.features) > 250 and all(len(f["support"]) == len(CLIENTS) for f in data.features.values())
    t = data.tables
    assert t["css_properties"]["margin-left"] == "css-margin" and t["css_values"]["display:grid"] == "css-display-grid"
    assert t["html_elements"]["h3"] == "html-h1-h6" and t["html_attributes"]["role"] == "html-role"
    assert t["css_functions"]["clamp"] == "css-function-clamp" and t["image_formats"]["webp"] == "image-webp"
    assert "outlook-windows" in data.unsupported("css-display-grid") and data.unsupported("html-table") == []
    licence = LICENSE_OUTPUT.read_text(encoding="utf-8")
    assert "MIT License" in licence and "Copyright (c) 2019 Rémi Parmentier" in licence
    assert "Permission is hereby granted" in licence and "github.com/hteumeuleu/caniemail" in licence


@pytest.mark.shared
def test_the_shipped_data_is_what_derive_makes_of_shared_caniemail(shared: Path, tmp_path: Path):
    source = shared / "caniemail"
    made = derive(json.loads((source / "features.json").read_text(encoding="utf-8")), source_commit(source))
    assert made == json.loads(OUTPUT.read_text(encoding="utf-8")), "rerun python -m digest.preflight.derive"
    assert licence_text(source, source_commit(source)) == LICENSE_OUTPUT.read_text(encoding="utf-8")
    assert (source / "LICENSE").read_text(encoding="utf-8").strip() in LICENSE_OUTPUT.read_text(encoding="utf-8")


# -- the shipped issue and the command ---------------------------------------------------------

def test_the_shipped_templates_next_issue_passes_in_every_variant(store, settings, weekly):
    seed_week(store, ["climate", "space", "markets"], per_topic=6)
    pictured = article(40, "space")
    pictured.image = "https://img.example/lander.jpg"
    store.save_article(pictured, 3600)
    file_as(store, [pictured], "space")
    for topics in (None, {"space"}, {"climate", "markets"}):
        report = preflight_next_issue(store, settings, "weekly", topics)
        assert report.blocks == [], report.blocks
        assert {f.code for f in report.warnings} <= {"client-ignores", "outlook-windows-ignores"}
    _, rendered, sent = next_issue_email(store, settings, "weekly")
    assert sent is not None and f"/u/{preview_token(settings, 'weekly')}" in sent[0]  # the preview's own token
    assert rendered.markers.token not in sent[0] and rendered.markers.token not in sent[1]


def test_a_spanish_list_passes_too(store, settings, topics):
    from digest.models import DigestList

    store.add_list(DigestList(slug="semanal", name="El Planeta", from_email="n@planeta.example", locale="es",
                              topics=topics, postal_address="Calle Órbita 1, Madrid"))
    seed_week(store, ["space"], list_slug="semanal")
    assert preflight_next_issue(store, settings, "semanal").blocks == []


def test_an_empty_issue_is_one_blocking_finding(store, settings, weekly):
    report = preflight_next_issue(store, settings, "weekly")
    assert [f.code for f in report.findings] == ["issue-empty"] and blocking(report)


def test_the_command_prints_findings_and_exits_1_only_when_something_blocks(store, settings, weekly, run,
                                                                            tmp_path: Path):
    empty = run("issues", "preflight", "weekly")
    assert empty.returncode == 1 and "issue-empty" in empty.stdout and "blocked" in empty.stdout
    seed_week(store, ["space"])
    ok = run("issues", "preflight", "weekly")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "weekly: ready: 0 blocking" in ok.stdout
    as_json = run("issues", "preflight", "weekly", "--json")
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["blocking"] is False
    broken = tmp_path / "templates"  # an operator's own templates without a language or unsubscribe link
    shutil.copytree(settings.templates_dir, broken)
    base = (broken / "base.html.j2").read_text(encoding="utf-8")
    (broken / "base.html.j2").write_text(base.replace('<html lang="{{ lang }}"', "<html"), encoding="utf-8")
    bad = run("issues", "preflight", "weekly", "--json", TEMPLATES_DIR=str(broken))
    assert bad.returncode == 1, bad.stderr
    found = json.loads(bad.stdout)
    assert found["blocking"] is True and [f["code"] for f in found["findings"] if f["severity"] == "block"] == \
        ["lang-missing"]
    assert run("issues", "preflight", "nosuchlist").returncode == 1
