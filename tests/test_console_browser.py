"""The console in a real browser: Debian's Chromium driven by Playwright, against the app served over HTTP,
with the calls driven through the signed webhooks. Every path a person takes, end to end."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from ivr.call import presence
from ivr.store import accounts, call_records
from tests.support import ROOT, put_presence

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LIVE = 2500  # ms: a live view shows a change within about 2 seconds (it polls every second)
NOTE = "replaced the router, check line speed tomorrow"
PASSWORD = "a long enough password"
SCREENSHOTS = ROOT / "docs"  # written only with UPDATE_SCREENSHOTS=1

if not os.environ.get("CI"):  # in CI both must be there: a missing browser fails, never skips
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)", allow_module_level=True)
    pytest.importorskip("playwright.sync_api")

from playwright import sync_api  # noqa: E402

expect = sync_api.expect


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def server(app):
    """The app on a real port, beside the test client the simulated Twilio posts its webhooks through."""
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()


@pytest.fixture
def page_for(browser, server, r):
    contexts = []

    def open_as(agent: str):
        accounts.set_password(r, agent, PASSWORD)
        context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=server)
        contexts.append(context)
        page = context.new_page()
        page.goto("/console/me")
        page.get_by_label("Your id").fill(agent)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="My calls")).to_be_visible()
        return page

    yield open_as
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> None:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def test_an_agent_takes_a_call_with_its_story_and_the_note_reaches_the_next_call(page_for, twilio, r):
    put_presence(r, "mei", presence.Presence(presence.AWAY))
    put_presence(r, "alex", presence.Presence(presence.AWAY))
    page = page_for("alex")
    expect(page.locator("[data-status]")).to_have_text("away")
    page.get_by_role("button", name="Available for calls").click()
    expect(page.get_by_role("status")).to_contain_text("You are now available")
    expect(page.locator("[data-status]")).to_have_text("available")

    call = twilio.call("+14155550401").start()
    call.press("3")  # moving: Mei is away, so Alex rings
    assert call.dialled() == ["+15005550101"]
    expect(page.locator("[data-status]")).to_have_text("ringing", timeout=LIVE)
    story = page.locator(".story")
    expect(story).to_contain_text("Caller ***0401")
    expect(story).to_contain_text("moving")
    expect(story).to_contain_text("first call")
    assert "4155550401" not in page.content(), "the number is masked"

    call.agent_answers()
    call.hangup()
    expect(page.locator("[data-status]")).to_have_text("wrap-up", timeout=LIVE)
    page.get_by_label("not resolved").check()
    page.get_by_label("Note for the next person").fill(NOTE)
    page.get_by_role("button", name="Finish wrap-up").click()
    expect(page.get_by_role("status")).to_contain_text("You are available for calls again")
    expect(page.locator("[data-status]")).to_have_text("available")

    again = twilio.call("+14155550401").start()
    assert again.dialled() == ["+15005550101"], "not resolved: straight back to Alex"
    expect(page.locator("[data-status]")).to_have_text("ringing", timeout=LIVE)
    expect(page.locator(".story .note")).to_contain_text(f"Alex noted: {NOTE}")
    expect(page.locator(".story table")).to_contain_text(NOTE)
    expect(page.locator(".story table")).to_contain_text("not resolved")
    heard, _ = again.whisper()
    assert f"Last time Alex noted: {NOTE}." in heard
    screenshot(page, "console-agent.png")


def test_the_supervisor_sees_a_caller_join_and_leave_the_line_live(page_for, twilio, r):
    for agent in ("alex", "mei"):
        put_presence(r, agent, presence.Presence(presence.BUSY, 0, time.time() + 3600, "CAx"))
    page = page_for("rosa")
    page.get_by_role("link", name="The line").click()
    expect(page.locator("#queue-empty")).to_be_visible()
    for agent in ("rosa", "dev"):  # busy too, so the caller waits
        put_presence(r, agent, presence.Presence(presence.BUSY, 0, time.time() + 3600, "CAy"))
    call = twilio.call("+14155550402").start()
    call.press("3")
    assert call.enqueued()
    row = page.locator(f'#queue tr[data-id="{call.sid}"]')
    expect(row).to_contain_text("***0402", timeout=LIVE)
    expect(row).to_contain_text("moving")
    expect(page.locator("#tile-waiting")).to_have_text("1")
    expect(page.locator('#board tr[data-agent="alex"]')).to_contain_text("busy")
    screenshot(page, "console-supervisor.png")
    call.hangup()
    expect(row).to_have_count(0, timeout=LIVE)
    expect(page.locator("#tile-waiting")).to_have_text("0")


def test_a_supervisor_sets_someone_away_from_the_board(page_for, r):
    page = page_for("dev")
    page.goto("/console/line")
    page.get_by_role("button", name="Set Priya away").click()
    expect(page.get_by_role("status")).to_contain_text("Priya is now away")
    expect(page.locator('#board tr[data-agent="priya"]')).to_contain_text("away")


def test_a_form_without_its_csrf_token_and_an_agent_on_a_supervisor_page_are_refused(page_for, r):
    page = page_for("jordan")
    page.evaluate("document.querySelectorAll('main input[name=csrf_token]').forEach(e => e.remove())")
    page.get_by_role("button", name="Away").click()
    expect(page.get_by_role("alert")).to_contain_text("expired")
    assert presence.AWAY not in (r.hget("ivr:presence", "jordan") or ""), "nothing changed"
    response = page.goto("/console/line")
    assert response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("only a supervisor")


def test_a_supervisor_fixes_a_stuck_callback_from_the_browser(page_for, twilio, r, clock):
    for agent in ("alex", "mei"):
        put_presence(r, agent, presence.Presence(presence.BUSY, 0, time.time() + 3600, "CAx"))
    call = twilio.call("+14155550403").start()
    call.press("3")
    call.wait(seconds=65)
    call.press_while_waiting("1")
    call.left_queue("leave")
    call.press("1")
    assert call.ended()
    # its tries failed: the request waits on the supervisors' list, out of line (as the dispatcher leaves it)
    r.hset(f"ivr:callback:{call.sid}", "status", "needs a supervisor")
    r.zrem("ivr:queue", f"cb:{call.sid}")
    r.zadd("ivr:callbacks:supervisors", {f"cb:{call.sid}": time.time()})
    page = page_for("rosa")
    page.goto("/console/line")
    row = page.locator(f'#callbacks tr[data-callback="{call.sid}"]')
    expect(row).to_contain_text("needs a supervisor")
    row.get_by_label("Give the callback").select_option("jordan")
    row.get_by_role("button", name="Give").click()
    expect(page.get_by_role("status")).to_contain_text("goes to Jordan first")
    row = page.locator(f'#callbacks tr[data-callback="{call.sid}"]')
    expect(row).to_contain_text("waiting")
    expect(row).to_contain_text("first Jordan")


def test_a_note_being_typed_survives_a_new_call_ringing(page_for, twilio, r):
    put_presence(r, "mei", presence.Presence(presence.AWAY))
    page = page_for("alex")
    call = twilio.call("+14155550404").start()
    call.press("3")
    call.agent_answers()
    call.hangup()
    expect(page.locator("[data-status]")).to_have_text("wrap-up", timeout=LIVE)
    page.get_by_label("Note for the next person").fill("half a thought")
    again = twilio.call("+14155550404").start()  # the line dropped: they call straight back, to Alex
    assert again.dialled() == ["+15005550101"]
    expect(page.locator("[data-status]")).to_have_text("ringing", timeout=LIVE)
    expect(page.locator(".story").first).to_contain_text("***0404")
    expect(page.get_by_label("Note for the next person")).to_have_value("half a thought")


def test_the_week_charts_in_the_browser(page_for, r):
    now = time.time()
    pipe = r.pipeline()
    for n, (caller, node) in enumerate((("ann", "welcome"), ("bob", "welcome"), ("ann", "billing"))):
        record = {"call": f"CA{n}", "caller": caller, "line": "riverlink-support", "arrived": now - 600 + n}
        call_records.append(pipe, {**record, "ended": now - 500, "zero_out": node, "repeat_window": 604800}, now)
    pipe.execute()
    page = page_for("rosa")
    page.goto("/console/line")
    page.get_by_role("link", name="The week").click()
    repeat = page.get_by_role("img", name="Repeat-call rate per day")
    expect(repeat).to_be_visible()
    expect(repeat.locator("g.bar")).to_have_count(7)
    expect(page.get_by_role("img", name="Callers who pressed 0, per menu: welcome 2; billing 1")).to_be_visible()
    screenshot(page, "console-week.png")
