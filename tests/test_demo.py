"""`digest demo`: the sample feeds, collected, grouped, rendered and "sent" to the outbox."""

from __future__ import annotations

import email
from email.policy import default as default_policy

from digest.demo import run_demo
from digest.render import premailer_calls


def test_the_demo_runs_the_whole_job_into_the_outbox(redis_url, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("REDIS_URL", redis_url)
    before = premailer_calls()
    run_demo(tmp_path)
    out = capsys.readouterr().out
    assert "Planet Wire: 8 new articles, 1 duplicates" in out  # the same story in two feeds
    assert "the next tick started nothing" in out  # the schedule's slot made one issue per list
    assert "erin@example.com asked to join weekly: pending" in out
    confirmation = email.message_from_bytes((tmp_path / "outbox/mail/erin@example.com.eml").read_bytes(),
                                            policy=default_policy)
    assert "/c/" in confirmation.get_body(("plain",)).get_content()  # her confirm link
    messages = sorted(m for m in tmp_path.glob("outbox/*/*.eml") if m.parent.name != "mail")
    assert [m.parent.name.split("-")[0] for m in messages] == ["semanal", "weekly", "weekly", "weekly"]
    assert [m.name for m in messages] == ["carla@example.com.eml", "alice@example.com.eml",
                                          "bob@example.com.eml", "dana@example.com.eml"]
    assert premailer_calls() - before == 2  # once per list's issue
    bob = email.message_from_bytes(messages[2].read_bytes(), policy=default_policy)
    html = bob.get_body(("html",)).get_content()
    assert "Hello Bob, here is your week." in html
    assert ">Space</h2>" in html and ">Markets</h2>" not in html  # bob chose space and climate
    assert "<script" not in html and "pixel.wp.com" not in html
    carla = email.message_from_bytes(messages[0].read_bytes(), policy=default_policy)
    assert "Darse de baja" in carla.get_body(("plain",)).get_content()
    preview = (tmp_path / "preview-weekly.html").read_text()
    assert "Alpine glaciers lost a record share" in preview
