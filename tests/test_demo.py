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
    assert "Planet Wire: 9 new articles" in out  # its own copy of the story Market Brief carries too
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
    # The two feeds' copies of one story are one story: a lead and an "also covered by" link.
    assert preview.count("Coal plant closures push EU emissions to a sixty-year low") == 2
    assert "Also covered by:" in preview


def test_the_demo_can_stay_up_to_be_clicked_through(redis_url, tmp_path):
    import os
    import re
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request
    import uuid

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "SENDGRID_", "REDIS_", "SECRET_"))}
    env.update(REDIS_URL=redis_url, REDIS_PREFIX=f"t{uuid.uuid4().hex[:8]}", BASE_URL=f"http://127.0.0.1:{port}")
    proc = subprocess.Popen([sys.executable, "-c", "from digest.cli import main; main()", "demo", "--serve",
                             "--output", str(tmp_path / "demo")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, deadline = "", time.monotonic() + 120
        while "Alice's unsubscribe page" not in out:
            assert time.monotonic() < deadline and proc.poll() is None, out
            out += proc.stdout.readline()  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        user, password = re.search(r"\(email (\S+), password (\S+)\)", out).groups()  # type: ignore[union-attr]
        for path in ("/healthz", "/s/weekly", "/archive/weekly",
                     re.search(r"the issue just sent:\s+\S+(/archive/weekly/\S+)", out).group(1),  # type: ignore[union-attr]
                     re.search(r"Alice's preferences:\s+\S+(/p/\S+)", out).group(1)):  # type: ignore[union-attr]
            try:
                assert urllib.request.urlopen(base + path, timeout=10).status == 200, path
            except urllib.error.HTTPError as exc:
                raise AssertionError(f"{path}: {exc}") from None
        import http.cookiejar
        import urllib.parse

        editor = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        assert "/login" in editor.open(base + "/lists", timeout=30).url  # signed out: the sign-in form
        form = urllib.parse.urlencode({"email": user, "password": password}).encode()
        signed_in = editor.open(base + "/login", data=form, timeout=30)  # redirected to the dashboard
        assert signed_in.url == base + "/lists" and "The Weekly Planet" in signed_in.read().decode()
        assert (tmp_path / "demo" / "logs" / "worker.log").exists()
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        rest, _ = proc.communicate(timeout=40)
    assert "stopped" in rest and proc.returncode == 0
