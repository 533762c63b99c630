"""Subscribers in the editors' app: search a page at a time, add (confirmation unless an admin
says otherwise on a single opt-in list), unsubscribe, import a CSV in the background with its
refused rows by line, export; editors of the list only, CSRF on every form."""

from __future__ import annotations

import csv
import io
import re
import time

import pytest

from digest.editors.import_jobs import jobs
from digest.models import Subscriber
from digest.web import subscribers_admin
from tests import test_manage_topics as personas
from tests.factories import readers
from tests.test_manage_topics import ED, actions, csrf, follow, post

# The personas' fixtures (pytest finds them by these names).
app, accounts, semanal, ada, ed = personas.app, personas.accounts, personas.semanal, personas.ada, personas.ed

CSV = (
    "email,name,topics\n"
    "ann@example.com,Ann,space\n"          # line 2: good
    "not-an-address,Bob,\n"                  # line 3: bad address
    "cid@example.com,Cid,space;gardening\n"  # line 4: unknown topic
    "dee@example.com,Dee,climate;markets\n"  # line 5: good
    "ann@example.com,Ann again,\n"           # line 6: twice in the file
    "eve@example.com,Eve\n"                  # line 7: a field short
)


def upload(client, slug: str, body: bytes, name: str = "people.csv", **form: str):  # type: ignore[no-untyped-def]
    return client.post(f"/lists/{slug}/subscribers/import", content_type="multipart/form-data",
                       data={"csrf": csrf(client), "file": (io.BytesIO(body), name), **form})


def wait_for(store, job_id: str, seconds: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while (job := jobs(store).import_job(job_id)) is not None and job.state == "running":
        assert time.monotonic() < deadline, "the import did not finish"
        time.sleep(0.05)
    return job


def job_of(answer) -> str:  # type: ignore[no-untyped-def]
    return re.search(r"/imports/([0-9a-f]+)", answer.headers["Location"]).group(1)  # type: ignore[union-attr]


# -- import and export -------------------------------------------------------------------


def test_an_import_reports_its_bad_rows_by_line_and_the_export_holds_what_it_imported(ed, store, weekly, settings):
    answer = upload(ed, "weekly", CSV.encode())
    assert answer.status_code == 303
    job = wait_for(store, job_of(answer))
    assert job.state == "done" and job.summary["new"] == 2 and job.summary["refused"] == 4
    page = ed.get(answer.headers["Location"]).data.decode()
    assert 'http-equiv="refresh"' not in page  # done: the page stops reloading
    for line, why in [(3, "not-an-address"), (4, "gardening"), (6, "already in the file (line 2)"),
                      (7, "2 fields, fewer than the header")]:
        assert re.search(rf"line {line}</td><td[^>]*>[^<]*{re.escape(why)}", page.replace("&#39;", "'")), line
    assert "Refused</dt><dd>4" in page and "New</dt><dd>2" in page
    assert store.get_subscriber("weekly", "ann@example.com").status == "pending"  # an editor: they confirm
    assert (settings.outbox_dir / "mail" / "ann@example.com.eml").exists()
    assert (ED, "import started") == actions(store, "weekly")[0][:2]

    exported = ed.post("/lists/weekly/subscribers/export", data={"csrf": csrf(ed)})
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert {(r["email"], r["name"], r["status"], r["topics"]) for r in rows} == {
        ("ann@example.com", "Ann", "pending", "space"), ("dee@example.com", "Dee", "pending", "climate;markets")}
    assert actions(store, "weekly")[0][:2] == (ED, "subscribers exported")


def test_a_running_import_page_reloads_itself_and_one_import_runs_per_list(ed, store, weekly):
    assert jobs(store).start_import_job("a" * 32, "weekly", ED, "big.csv", 1000)
    jobs(store).import_progress("a" * 32, 250, [(9, "invalid email address")])
    answer = ed.get(f"/lists/weekly/subscribers/imports/{'a' * 32}")
    page = answer.data.decode()
    assert '<meta http-equiv="refresh" content="2">' in page and answer.headers["Refresh"] == "2"
    assert 'value="25"' in page and "line 9" in page
    refused = upload(ed, "weekly", CSV.encode())
    assert refused.status_code == 400 and "an import into this list is running" in refused.data.decode()


def test_the_import_route_alone_takes_big_bodies(ed, store, weekly, monkeypatch):
    body = ("email,name\n" + "".join(f"r{i}@example.com,Reader number {i}\n" for i in range(6000))).encode()
    assert len(body) > 150_000  # well past the app's 64 KB
    job = wait_for(store, job_of(upload(ed, "weekly", body)))
    assert job.summary["new"] == 6000
    too_big = ed.post("/lists/weekly/subscribers", data={"csrf": csrf(ed), "email": "x@example.com",
                                                         "name": "x" * 70_000})
    assert too_big.status_code == 413
    monkeypatch.setattr(subscribers_admin, "IMPORT_MAX_BYTES", 100_000)
    assert upload(ed, "weekly", body).status_code == 413


def test_a_bad_header_fails_the_job_with_its_reason(ed, store, weekly):
    job = wait_for(store, job_of(upload(ed, "weekly", b"name,topics\nAnn,space\n")))
    assert job.state == "failed" and "at least 'email'" in job.error
    assert "/tmp" not in job.error


# -- one at a time -------------------------------------------------------------------------


def test_an_editor_adds_someone_who_then_confirms_by_email(ed, store, weekly, settings):
    page = follow(ed, post(ed, "/lists/weekly/subscribers", {"email": "Zoe@Example.com", "name": "Zoe",
                                                             "topics": "space"}))
    assert store.get_subscriber("weekly", "zoe@example.com").status == "pending"
    assert "pending until they confirm: a confirmation email was sent" in page
    assert (settings.outbox_dir / "mail" / "zoe@example.com.eml").exists()
    assert actions(store, "weekly")[0] == (ED, "subscriber added", "zoe@example.com: pending")


def test_only_an_admin_subscribes_someone_at_once_and_only_on_a_single_opt_in_list(ada, ed, store, weekly, settings):
    store.add_list(weekly.model_copy(update={"opt_in": "single"}))
    page = follow(ada, post(ada, "/lists/weekly/subscribers", {"email": "amy@example.com", "opt_in": "single"}))
    assert "amy@example.com subscribed to weekly" in page
    assert store.get_subscriber("weekly", "amy@example.com").consent == "single-opt-in"
    page = ed.get("/lists/weekly/subscribers").data.decode()
    assert 'value="single"' not in page  # an editor is not offered it
    answer = post(ed, "/lists/weekly/subscribers", {"email": "bo@example.com", "opt_in": "single"})  # forged
    assert answer.status_code == 400 and "only an admin" in answer.data.decode()
    follow(ed, post(ed, "/lists/weekly/subscribers", {"email": "bo@example.com"}))
    assert store.get_subscriber("weekly", "bo@example.com").status == "pending"  # single opt-in list or not
    answer = upload(ed, "weekly", b"email\ncy@example.com\n", opt_in="single")
    assert answer.status_code == 400 and "only an admin" in answer.data.decode()


def test_unsubscribe_from_the_search_results(ed, store, weekly):
    store.add_subscriber("weekly", Subscriber(email="al@example.com"))
    page = ed.get("/lists/weekly/subscribers?q=al@").data.decode()
    assert "al@example.com" in page and "Unsubscribe" in page
    page = follow(ed, post(ed, "/lists/weekly/subscribers/unsubscribe", {"email": "al@example.com"}))
    assert "al@example.com unsubscribed from weekly" in page
    assert store.get_subscriber("weekly", "al@example.com").status == "unsubscribed"
    assert actions(store, "weekly")[0] == (ED, "subscriber unsubscribed", "al@example.com")
    assert post(ed, "/lists/weekly/subscribers/unsubscribe", {"email": "nobody@example.com"}).status_code == 404


# -- search --------------------------------------------------------------------------------


def test_search_finds_by_prefix_and_pages_through_a_big_list(ed, store, weekly):
    store.add_subscribers("weekly", readers(600, [None]))
    page = ed.get("/lists/weekly/subscribers?q=READER12").data.decode()
    found = set(re.findall(r'class="lead wrap">([^<]+)<', page))
    assert found == {"reader12@example.com", *(f"reader{i}@example.com" for i in range(120, 130))}
    seen: set[str] = set()
    url, pages = "/lists/weekly/subscribers?q=", 0
    while url:
        page = ed.get(url).data.decode().replace("&amp;", "&")
        rows = re.findall(r'class="lead wrap">([^<]+)<', page)
        assert len(rows) <= 120  # a page, never the list
        seen.update(rows)
        pages += 1
        more = re.search(r'href="(/lists/weekly/subscribers\?q=&cursor=\d+)">More results', page)
        url = more.group(1) if more else ""
    assert pages > 3 and len(seen) == 600
    assert "No address starts with" in ed.get("/lists/weekly/subscribers?q=*").data.decode()  # no glob


@pytest.mark.parametrize("cursor", [str(2**64), str(10**30), "-1", "1e3", "\u0661", "x"])
def test_a_cursor_redis_would_refuse_is_a_clear_400_not_an_error_page(ed, store, weekly, cursor):
    """The cursor comes from a link anyone can edit; Redis answers an error above 2**64 - 1."""
    store.add_subscribers("weekly", readers(3, [None]))
    r = ed.get("/lists/weekly/subscribers", query_string={"q": "reader", "cursor": cursor})
    assert r.status_code == 400 and "cursor must be a whole number from 0 to 18446744073709551615" in r.text
    last = ed.get("/lists/weekly/subscribers", query_string={"q": "reader", "cursor": str(2**64 - 1)})
    assert last.status_code == 200  # the largest cursor Redis takes


# -- access --------------------------------------------------------------------------------


OTHER_LISTS_ACTIONS = [("/lists/semanal/subscribers", {"email": "x@example.com"}),
                       ("/lists/semanal/subscribers/unsubscribe", {"email": "s@example.com"}),
                       ("/lists/semanal/subscribers/export", {})]


def test_an_editor_of_another_list_gets_404_everywhere(ed, ada, store, semanal):
    store.add_subscriber("semanal", Subscriber(email="s@example.com"))
    assert ed.get("/lists/semanal/subscribers?q=s").status_code == 404
    for path, data in OTHER_LISTS_ACTIONS:
        assert post(ed, path, data).status_code == 404, path
    assert upload(ed, "semanal", b"email\nnew@example.com\n").status_code == 404
    started = upload(ada, "semanal", b"email\nnew@example.com\n")
    job_id = job_of(started)
    wait_for(store, job_id)
    assert ed.get(f"/lists/semanal/subscribers/imports/{job_id}").status_code == 404
    assert ed.get(f"/lists/weekly/subscribers/imports/{job_id}").status_code == 404  # its own list, another's job
    assert store.get_subscriber("semanal", "s@example.com").status == "active"
    assert [a for who, a, _ in actions(store, "semanal") if who == ED] == []


def test_forged_or_missing_tokens_and_signed_out_requests_change_nothing(app, ed, store, weekly):
    store.add_subscriber("weekly", Subscriber(email="s@example.com"))
    for token in ({}, {"csrf": "forged"}):
        answer = ed.post("/lists/weekly/subscribers/unsubscribe", data={**token, "email": "s@example.com"})
        assert answer.status_code == 403
        assert ed.post("/lists/weekly/subscribers/export", data=token).status_code == 403
        assert ed.post("/lists/weekly/subscribers/import", content_type="multipart/form-data",
                       data={**token, "file": (io.BytesIO(b"email\nz@example.com\n"), "a.csv")}).status_code == 403
    out = app.test_client()
    assert out.get("/lists/weekly/subscribers").headers["Location"].startswith("/login")
    assert out.post("/lists/weekly/subscribers/export").status_code == 403
    assert store.get_subscriber("weekly", "s@example.com").status == "active"
    assert jobs(store).import_jobs("weekly") == []


@pytest.mark.parametrize("body", [b"\xff\xfe\x00garbage", b""])
def test_an_unreadable_upload_is_a_failed_job_not_an_error_page(ed, store, weekly, body):
    answer = upload(ed, "weekly", body)
    if answer.status_code == 303:
        assert wait_for(store, job_of(answer)).state == "failed"
    else:
        assert answer.status_code == 400


# -- in a real browser ----------------------------------------------------------------------


@pytest.mark.browser
def test_importing_on_a_phone_in_a_browser(settings, store, accounts, tmp_path, request):
    from pathlib import Path

    from digest.web import create_app
    from tests.factories import seed_week
    from tests.test_email_browser import Screenshots
    from tests.test_manage_topics import PASSWORD
    from tests.test_web_browser import CHROMIUM, serve

    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed")
    browser = request.getfixturevalue("browser")
    shots = Screenshots(tmp_path, "manage")
    seed_week(store, ["space", "climate"])
    store.add_subscribers("weekly", readers(30, [None], domain="planet.example"))
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(CSV, encoding="utf-8")
    site = create_app(settings.model_copy(update={"base_url": "http://127.0.0.1:1"}))  # http: no Secure cookie
    with serve(site) as url:
        page = browser.new_page(viewport={"width": 375, "height": 800})
        page.goto(f"{url}/lists/weekly/subscribers")
        page.get_by_label("Email address").fill(ED)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{url}/lists/weekly/subscribers")
        page.get_by_label("Find by the start of the address").fill("reader1")
        page.get_by_role("button", name="Search").click()
        assert page.get_by_text("reader10@planet.example").is_visible()
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 376  # fits a phone
        shots.take(page, "subscribers-375-light")
        page.locator("#file").set_input_files(str(csv_file))
        page.get_by_role("button", name="Import").click()
        page.wait_for_url(f"{url}/lists/weekly/subscribers/imports/*")
        page.locator(".pill-done").wait_for(timeout=15_000)  # by itself: the page reloads until done
        assert page.get_by_text("Refused rows").is_visible()
        assert page.get_by_text("line 3").is_visible()
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 376
        shots.take(page, "import-report-375-light")
        page.goto(f"{url}/lists/weekly/topics")
        page.emulate_media(color_scheme="dark")
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 376
        shots.take(page, "topics-375-dark")
