"""Recorded prompts reach callers as <Play>, with the text as the fallback; hold music plays in line."""

from __future__ import annotations

import shutil

from pydub.generators import Sine

from ivr.call import presence
from tests.support import AUTH_TOKEN, PUBLIC_URL, ROOT, put_presence
from tests.twilio_sim import Twilio


def line_with_prompts(tmp_path, make_app, welcome_audio: bool):
    shutil.copy(ROOT / "flows" / "agents.yaml", tmp_path)
    (tmp_path / "audio").mkdir()
    shutil.copy(ROOT / "flows" / "audio" / "hold.mp3", tmp_path / "audio")
    if welcome_audio:
        Sine(440).to_audio_segment(duration=800).export(tmp_path / "audio" / "welcome.wav", format="wav").close()
    text = (
        (ROOT / "flows" / "support.yaml")
        .read_text()
        .replace("  welcome:\n    type: menu\n", "  welcome:\n    type: menu\n    play: audio/welcome.wav\n", 1)
    )
    (tmp_path / "support.yaml").write_text(text)
    app = make_app(FLOWS_DIR=str(tmp_path))
    return app, Twilio(app.test_client(), AUTH_TOKEN, PUBLIC_URL)


def test_a_recorded_menu_prompt_plays_inside_the_gather(tmp_path, make_app):
    app, twilio = line_with_prompts(tmp_path, make_app, welcome_audio=True)
    call = twilio.call().start()
    gather = call.gather()
    played = gather.find("Play").text
    assert played.startswith("/audio/") and played.endswith(".wav")
    said = [child.tag for child in gather]
    assert said == ["Say", "Play"], "the way to a person is said first, then the recording plays"
    assert call.heard().startswith("Press 0 or say agent at any time for a person.")
    response = app.test_client().get(played)
    response.close()
    assert response.status_code == 200 and response.mimetype == "audio/wav"


def test_a_missing_recording_falls_back_to_the_text(tmp_path, make_app):
    _, twilio = line_with_prompts(tmp_path, make_app, welcome_audio=False)
    call = twilio.call().start()
    assert call.gather().find("Play") is None and "Thanks for calling Riverlink" in call.heard()


def test_hold_music_plays_while_waiting(twilio, r, clock, app):
    for agent in ("alex", "mei"):
        put_presence(r, agent, presence.Presence(presence.BUSY, 0, clock.now + 600, "CAx"))
    call = twilio.call().start()
    call.press("3")
    call.wait(seconds=5)
    music = call.gather().find("Play").text
    assert music == app.extensions["ivr"].catalog.audio["audio/hold.mp3"]
    response = app.test_client().get(music)
    response.close()
    assert response.status_code == 200
