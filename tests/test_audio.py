"""Recorded prompts and hold music: conversion for the phone, the cache, problems reported, files served."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.errors import IVRError
from ivr.flows import audio
from ivr.flows.audio import AudioError, AudioSegment, prepare
from ivr.flows.catalog import load_catalog
from ivr.tools.cli import main
from tests.support import ROOT

RATE = 44100


def tone(ms: int, volume: float, freq: float = 440.0) -> AudioSegment:
    from pydub.generators import Sine  # after ivr.flows.audio, which imports pydub without its warnings

    return Sine(freq, sample_rate=RATE).to_audio_segment(duration=ms, volume=volume)


def quiet(ms: int) -> AudioSegment:
    return AudioSegment.silent(duration=ms, frame_rate=RATE)


def recording(path: Path, lead_ms=700, sound_ms=1000, tail_ms=500, volume=-20.0, freq=440.0) -> AudioSegment:
    """A stereo 44.1 kHz file: a tone with silence around it, as MP3 or WAV by its suffix."""
    sound = (quiet(lead_ms) + tone(sound_ms, volume, freq) + quiet(tail_ms)).set_channels(2)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        sound.export(out, format=path.suffix[1:], **({"bitrate": "128k"} if path.suffix == ".mp3" else {}))
    return sound


def load_wav(path: Path) -> AudioSegment:
    with path.open("rb") as f:
        return AudioSegment.from_wav(f)


# --- conversion -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".wav", ".mp3"])
def test_a_prompt_becomes_8khz_mono_16bit_wav_trimmed_and_evened_out(tmp_path, suffix):
    source = tmp_path / f"welcome{suffix}"
    original = recording(source)
    assert (original.frame_rate, original.channels, len(original)) == (RATE, 2, 2200)
    assert original.dBFS == pytest.approx(-26.4, abs=0.2)  # a -20 dBFS tone, diluted by 1.2 s of silence

    prepared = prepare(source, tmp_path / "cache")

    out = load_wav(prepared.path)
    assert (out.frame_rate, out.channels, out.sample_width) == (8000, 1, 2)
    # 1 s of tone with 100 ms of silence kept on each side (MP3 adds a few ms of encoder padding)
    assert len(out) == pytest.approx(1200, abs=30)
    assert prepared.seconds == pytest.approx(len(out) / 1000, abs=0.001)
    assert audio.duration_seconds(prepared.path) == prepared.seconds
    assert audio.duration_seconds(source) == pytest.approx(2.2, abs=0.06)
    assert out.dBFS == pytest.approx(audio.TARGET_DBFS, abs=0.5)  # from about -26 to -16 on average
    assert out.max_dBFS <= -audio.PEAK_HEADROOM_DB + 0.01
    assert out[:80].dBFS < -60 and out[-80:].dBFS < -60  # the kept silence is silent
    assert out[150:1050].dBFS == pytest.approx(-15.2, abs=0.3)  # the tone: -16 dBFS spread over 1 s, not 1.2
    assert prepared.name == prepared.path.name and prepared.path.parent == tmp_path / "cache"


def test_loud_peaks_are_never_clipped_to_reach_the_average(tmp_path):
    source = tmp_path / "spiky.wav"
    sound = quiet(300) + tone(1000, -45) + tone(20, -3, 1000) + tone(1000, -45) + quiet(300)
    with source.open("wb") as out:
        sound.export(out, format="wav")
    out = load_wav(prepare(source, tmp_path / "cache").path)
    assert out.max_dBFS == pytest.approx(-audio.PEAK_HEADROOM_DB, abs=0.01)
    assert out.dBFS < audio.TARGET_DBFS - 5  # quieter than the target: the spike leaves no more room
    assert out.max < out.max_possible_amplitude


def test_the_cache_is_reused_for_an_unchanged_file_and_redone_for_an_edited_one(tmp_path, monkeypatch):
    decoded = []
    real_decode = audio._decode
    monkeypatch.setattr(audio, "_decode", lambda source: decoded.append(source) or real_decode(source))
    source, cache = tmp_path / "hold.mp3", tmp_path / "cache"
    recording(source)

    first = prepare(source, cache)
    made = first.path.stat().st_mtime_ns
    again = prepare(source, cache)
    assert again == first and first.path.stat().st_mtime_ns == made and len(decoded) == 1

    recording(source, freq=660.0)  # same name, new content
    edited = prepare(source, cache)
    assert edited.name != first.name and len(decoded) == 2
    assert sorted(p.name for p in cache.iterdir()) == sorted([first.name, edited.name])  # no temporary files

    monkeypatch.setattr(audio, "PROCESSING_VERSION", audio.PROCESSING_VERSION + 1)
    assert prepare(source, cache).name not in (first.name, edited.name) and len(decoded) == 3


def test_a_damaged_cached_file_is_made_again(tmp_path):
    source, cache = tmp_path / "p.wav", tmp_path / "cache"
    recording(source)
    first = prepare(source, cache)
    first.path.write_bytes(b"RIFF")
    assert prepare(source, cache) == first and load_wav(first.path).frame_rate == 8000


def test_checking_writes_nothing_and_gives_the_converted_duration(tmp_path):
    source = tmp_path / "p.mp3"
    recording(source)
    checked = audio.inspect(source)
    assert checked.path is None and checked.seconds == pytest.approx(1.2, abs=0.03)
    assert checked.name == prepare(source, tmp_path / "cache").name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "p.mp3"]


def test_missing_unreadable_and_silent_files_raise_a_clear_error(tmp_path):
    corrupt = tmp_path / "corrupt.mp3"
    corrupt.write_bytes(os.urandom(4096))
    silent = tmp_path / "silent.wav"
    with silent.open("wb") as out:
        quiet(1000).export(out, format="wav")
    for path, reason in [
        (tmp_path / "missing.mp3", "is missing"),
        (corrupt, "cannot be played"),
        (silent, "has no sound in it"),
        (tmp_path, "is a folder"),
    ]:
        with pytest.raises(AudioError) as caught:
            prepare(path, tmp_path / "cache")
        assert isinstance(caught.value, IVRError) and caught.value.reason.startswith(reason)
        assert str(caught.value).startswith(str(path))
    with pytest.raises(AudioError, match="is missing"):
        audio.duration_seconds(tmp_path / "missing.wav")


def test_importing_the_audio_module_warns_about_nothing():
    # pydub warns about audioop and a missing ffmpeg on import; ivr.flows.audio keeps both out of every run
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", "import ivr.flows.audio"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_the_example_hold_music_converts_and_is_small():
    source = ROOT / "flows" / "audio" / "hold.mp3"
    assert source.stat().st_size < 100_000
    assert 3 <= audio.inspect(source).seconds <= 15


# --- the flows' audio: catalog, `ivr check`, startup ---------------------------------------------------------

FLOW = """\
# yaml-language-server: $schema=flow.schema.json
name: recorded
default: true
start: welcome
settings:
  hold_music: audio/hold.mp3
nodes:
  welcome:
    type: menu
    play: audio/welcome.wav
    say: For billing, press 1.
    options:
      - key: "1"
        next: billing
  billing:
    type: message
    play: audio/missing.mp3
    say: Your bill is ready.
    next: bye
  bye:
    type: goodbye
    play: audio/corrupt.mp3
    say: Goodbye.
"""


@pytest.fixture
def flows(tmp_path) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir()
    shutil.copy(ROOT / "flows" / "agents.yaml", folder)
    (folder / "recorded.yaml").write_text(FLOW)
    recording(folder / "audio" / "welcome.wav")
    recording(folder / "audio" / "hold.mp3", sound_ms=3000, freq=330.0)
    (folder / "audio" / "corrupt.mp3").write_bytes(os.urandom(2048))
    return folder


def _line(node: str) -> int:
    """A node's line: where its name is written."""
    return FLOW.splitlines().index(f"  {node}:") + 1


def test_missing_and_corrupt_files_are_reported_with_file_line_and_node_not_refused(flows):
    catalog = load_catalog(flows)
    file = str(flows / "recorded.yaml")
    assert [(p.file, p.line, p.node) for p in catalog.audio_problems] == [
        (file, _line("billing"), "billing"),
        (file, _line("bye"), "bye"),
    ]
    missing, corrupt = (p.message for p in catalog.audio_problems)
    assert missing == (
        "the recorded prompt 'audio/missing.mp3' is missing; callers will hear the spoken text (say) instead"
    )
    assert corrupt.startswith("the recorded prompt 'audio/corrupt.mp3' cannot be played")
    assert corrupt.endswith("callers will hear the spoken text (say) instead")
    assert set(catalog.audio) == {"audio/welcome.wav", "audio/hold.mp3"}
    assert all(url.startswith("/audio/") and url.endswith(".wav") for url in catalog.audio.values())
    assert catalog.audio_seconds["audio/welcome.wav"] == pytest.approx(1.2, abs=0.03)
    assert catalog.audio_seconds["audio/hold.mp3"] == pytest.approx(3.2, abs=0.03)


def test_with_a_cache_every_usable_file_is_converted_there(flows, tmp_path):
    cache = tmp_path / "cache"
    catalog = load_catalog(flows, audio_cache=cache)
    assert len(catalog.audio_problems) == 2
    assert sorted(p.name for p in cache.iterdir()) == sorted(url.split("/")[-1] for url in catalog.audio.values())
    assert catalog.audio == load_catalog(flows).audio  # checking alone gives the same URLs


def test_broken_hold_music_and_paths_outside_the_folder_are_reported_on_their_line(flows):
    text = FLOW.replace("hold_music: audio/hold.mp3", "hold_music: audio/nothing.mp3")
    text = text.replace("play: audio/welcome.wav", "play: ../secret.wav")
    (flows / "recorded.yaml").write_text(text)
    problems = load_catalog(flows).audio_problems
    hold, outside = problems[0], problems[1]
    assert (hold.line, hold.node) == (6, None)
    assert hold.message == (
        "the hold music 'audio/nothing.mp3' is missing; callers on hold will hear the standard hold music instead"
    )
    assert (outside.line, outside.node) == (_line("welcome"), "welcome")
    assert "'../secret.wav' is not inside the flows folder" in outside.message


def test_ivr_check_warns_about_audio_and_still_passes(flows):
    result = CliRunner().invoke(main, ["check", str(flows)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    file = flows / "recorded.yaml"
    assert (
        f"warning {file}:{_line('billing')}: node 'billing': the recorded prompt "
        "'audio/missing.mp3' is missing" in result.stderr
    )
    assert f"warning {file}:{_line('bye')}: node 'bye': the recorded prompt 'audio/corrupt.mp3'" in result.stderr
    assert f"ok {file}: recorded audio audio/hold.mp3 (hold music, 3.2 s), audio/welcome.wav (1.2 s)" in result.stdout
    one_file = CliRunner().invoke(main, ["check", str(file)], catch_exceptions=False)
    assert one_file.exit_code == 0 and one_file.stderr == result.stderr


def test_the_app_starts_with_broken_audio_and_logs_it(flows, tmp_path, make_app, caplog):
    make_app(FLOWS_DIR=str(flows), AUDIO_CACHE=str(tmp_path / "cache"))
    warned = [r.getMessage() for r in caplog.records if r.getMessage().startswith("audio: ")]
    assert len(warned) == 2 and "audio/missing.mp3" in warned[0]


# --- GET /audio/<name> ------------------------------------------------------------------------------------


@pytest.fixture
def served(flows, tmp_path, make_app):
    cache = tmp_path / "cache"
    app = make_app(FLOWS_DIR=str(flows), AUDIO_CACHE=str(cache))
    return app.test_client(), app.extensions["ivr"].catalog, cache


def test_a_prompt_is_served_with_caching_headers_and_304_when_unchanged(served):
    client, catalog, cache = served
    url = catalog.audio["audio/welcome.wav"]
    response = client.get(url, buffered=True)  # no X-Twilio-Signature: Twilio fetches <Play> URLs with a plain GET
    assert response.status_code == 200
    assert response.mimetype == "audio/wav"
    assert response.data == (cache / url.split("/")[-1]).read_bytes()
    assert response.cache_control.public and response.cache_control.immutable
    assert response.cache_control.max_age == 86400
    etag = response.headers["ETag"]
    assert etag == f'"{url.split("/")[-1].removesuffix(".wav")}"'
    again = client.get(url, headers={"If-None-Match": etag}, buffered=True)
    assert again.status_code == 304 and again.data == b""
    assert client.head(url, buffered=True).status_code == 200


def test_unknown_names_and_paths_out_of_the_cache_are_404(served):
    client, catalog, cache = served
    (cache / ("0" * 32 + ".wav")).write_bytes(b"not a prompt of any flow")
    for url in [
        "/audio/" + "0" * 32 + ".wav",
        "/audio/" + "f" * 32 + ".wav",
        "/audio/agents.yaml",
        "/audio/../flows/agents.yaml",
        "/audio/..%2Fflows%2Fagents.yaml",
        "/audio/%2e%2e%2frecorded.yaml",
        "/audio/..",
        "/audio/" + catalog.audio["audio/welcome.wav"].split("/")[-1].upper(),
    ]:
        assert client.get(url, buffered=True).status_code == 404, url


def test_a_prompt_gone_from_the_cache_is_made_again(served):
    client, catalog, cache = served
    url = catalog.audio["audio/hold.mp3"]
    (cache / url.split("/")[-1]).unlink()
    response = client.get(url, buffered=True)
    assert response.status_code == 200 and response.data[:4] == b"RIFF"


def test_the_audio_cache_defaults_under_ivr_home(monkeypatch):
    from webhooks import config_from_env

    monkeypatch.delenv("AUDIO_CACHE", raising=False)
    monkeypatch.delenv("IVR_HOME", raising=False)
    assert config_from_env()["AUDIO_CACHE"] == os.path.join(".ivr", "audio-cache")
    monkeypatch.setenv("AUDIO_CACHE", "/var/cache/ivr")
    assert config_from_env()["AUDIO_CACHE"] == "/var/cache/ivr"
