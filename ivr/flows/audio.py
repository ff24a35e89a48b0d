"""Recorded prompts and hold music: audio files converted with pydub to what a telephone plays well.

A phone line carries 8 kHz mono audio, so every prompt is turned into an 8 kHz, mono, 16-bit WAV
(Twilio's <Play> takes WAV and MP3; this is the telephone's own format, so nothing is resampled on
the way to the caller), with the silence before and after the sound trimmed and the loudness evened
out. Converted files are kept in a cache folder under a name made from a hash of the source file and
the processing version: an edited file is converted again, an unchanged one is not.

ffmpeg decodes the files. A fresh machine has none, so the binary that the `imageio-ffmpeg` wheel
ships is used (pydub is pointed at it too). The decoding is done here rather than with
`AudioSegment.from_file`, which asks ffprobe about the file first, and ffprobe is not shipped.
No Flask, no Redis: the web side only serves the files this module writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
import warnings
import wave
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath, PureWindowsPath

from ivr.errors import IVRError, Problem
from ivr.flows import yamlfile
from ivr.flows.model import Flow, Node, recording

with warnings.catch_warnings():
    # pydub imports audioop (deprecated in 3.11, gone in 3.13: the audioop-lts wheel replaces it there)
    # and looks for an `ffmpeg` on the PATH; neither is a problem here, so neither may warn.
    warnings.filterwarnings("ignore", message=".*audioop.*", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message="Couldn't find ff", category=RuntimeWarning)
    from pydub import AudioSegment, effects, silence

PROCESSING_VERSION = 1  # raise when the conversion below changes: every cached file is then made again
SAMPLE_RATE = 8000  # Hz: the telephone's own rate
TARGET_DBFS = -16.0  # average loudness of a prompt
PEAK_HEADROOM_DB = 1.0  # peaks stay this far below full scale: loudness is never bought with clipping
SILENCE_BELOW_PEAK_DB = 50.0  # quieter than the file's peak by this much counts as silence
KEEP_SILENCE_MS = 100  # silence kept before and after the sound
FADE_MS = 10
URL_PREFIX = "/audio/"
DECODE_TIMEOUT_SECONDS = 60


class AudioError(IVRError):
    """An audio file is missing, unreadable or has no sound; callers hear the spoken text instead."""

    def __init__(self, path: Path | str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class Prepared:
    """A prompt ready for the phone: its public file name, how long callers hear it, and the cached file."""

    name: str  # <hash>.wav, served at /audio/<name>
    seconds: float
    path: Path | None  # the converted file in the cache; None when the file was only checked


@dataclass(frozen=True)
class AudioReport:
    """Every audio file a set of flows refers to: where the good ones are served, and what is wrong."""

    urls: dict[str, str] = field(default_factory=dict)  # path as written in the flow -> /audio/<name>
    seconds: dict[str, float] = field(default_factory=dict)  # path as written -> seconds callers hear
    problems: tuple[Problem, ...] = ()


@lru_cache(maxsize=1)
def ffmpeg() -> str:
    """The ffmpeg binary: the one imageio-ffmpeg ships (or IMAGEIO_FFMPEG_EXE), else one on the PATH."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        found = shutil.which("ffmpeg")
        if found:
            return found
        raise AudioError("ffmpeg", "no ffmpeg to read audio with: install the imageio-ffmpeg package") from None


with contextlib.suppress(AudioError):  # without one, every file is reported when it is read
    AudioSegment.converter = ffmpeg()  # for pydub's own encoding (export to MP3)


def public_name(data: bytes) -> str:
    """The cache and URL name of a source file's bytes under the current processing."""
    digest = hashlib.sha256(f"ivr-audio v{PROCESSING_VERSION} {SAMPLE_RATE}Hz {TARGET_DBFS}dBFS\n".encode())
    digest.update(data)
    return digest.hexdigest()[:32] + ".wav"


def prepare(source: Path, cache_dir: Path) -> Prepared:
    """Convert SOURCE into the cache (or find it there) and return the phone-ready file."""
    data = _read(source)
    name = public_name(data)
    target = Path(cache_dir) / name
    seconds = _wav_seconds(target)
    if seconds is not None:
        return Prepared(name, seconds, target)
    sound = _process(source)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # written beside the target and renamed: workers starting together never see half a file
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".tmp-", suffix=".wav", delete=False) as tmp:
            sound.export(tmp, format="wav")
        os.replace(tmp.name, target)
    except OSError as exc:
        raise AudioError(source, f"cannot be written to the audio cache {cache_dir}: {exc.strerror or exc}") from exc
    return Prepared(name, round(len(sound) / 1000, 3), target)


def inspect(source: Path) -> Prepared:
    """Check that SOURCE converts, without writing anything; its duration is the converted one."""
    name = public_name(_read(source))
    return Prepared(name, round(len(_process(source)) / 1000, 3), None)


def duration_seconds(path: Path) -> float:
    """How long an audio file plays, in seconds."""
    seconds = _wav_seconds(Path(path))
    if seconds is not None:
        return seconds
    _read(Path(path))
    return round(len(_decode(Path(path))) / 1000, 3)


def _read(source: Path) -> bytes:
    try:
        return Path(source).read_bytes()
    except FileNotFoundError:
        raise AudioError(source, "is missing") from None
    except IsADirectoryError:
        raise AudioError(source, "is a folder, not an audio file") from None
    except OSError as exc:
        raise AudioError(source, f"cannot be read: {exc.strerror or exc}") from exc


def _wav_seconds(path: Path) -> float | None:
    """The duration of a plain (PCM) WAV file from its header; None if it is not one."""
    try:
        with wave.open(str(path), "rb") as w:
            rate, frames = w.getframerate(), w.getnframes()
    except (OSError, EOFError, wave.Error):
        return None
    return round(frames / rate, 3) if rate and frames else None


def _decode(source: Path) -> AudioSegment:
    """Any file ffmpeg reads -> 8 kHz mono 16-bit audio (ffmpeg's resampler filters what a phone cannot carry)."""
    command = [
        ffmpeg(),
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-i",
        f"file:{source}",
        "-vn",
        "-ac",
        "1",
        "-ar",
        str(SAMPLE_RATE),
        "-f",
        "s16le",
        "-c:a",
        "pcm_s16le",
        "-",
    ]
    try:
        done = subprocess.run(command, capture_output=True, timeout=DECODE_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise AudioError(source, f"took more than {DECODE_TIMEOUT_SECONDS} seconds to read") from None
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        why = f" ({detail[-1][:200]})" if detail else ""
        raise AudioError(source, f"cannot be played: it is not a sound file ffmpeg can read{why}")
    samples = done.stdout[: len(done.stdout) - len(done.stdout) % 2]
    return AudioSegment(data=samples, sample_width=2, frame_rate=SAMPLE_RATE, channels=1)


def _process(source: Path) -> AudioSegment:
    """Decode, trim the silence around the sound, and even out the loudness without clipping."""
    sound = _decode(source)
    if not len(sound) or sound.max == 0:
        raise AudioError(source, "has no sound in it")
    threshold = sound.max_dBFS - SILENCE_BELOW_PEAK_DB
    lead = silence.detect_leading_silence(sound, silence_threshold=threshold, chunk_size=10)
    trail = silence.detect_leading_silence(sound.reverse(), silence_threshold=threshold, chunk_size=10)
    sound = sound[max(0, lead - KEEP_SILENCE_MS) : max(lead, len(sound) - trail + KEEP_SILENCE_MS)]
    sound = effects.normalize(sound, headroom=PEAK_HEADROOM_DB)  # the loudest peak just below full scale
    if sound.dBFS > TARGET_DBFS:  # loud throughout (music, compressed speech): bring the average down
        sound = sound.apply_gain(TARGET_DBFS - sound.dBFS)
    return sound.fade_in(FADE_MS).fade_out(FADE_MS)


# --- the flows' audio files ------------------------------------------------------------------------------


def prompts(flow: Flow) -> list[tuple[str, Node | None]]:
    """The audio files a flow refers to, as written: its hold music (node None), then each node's `play`."""
    found: list[tuple[str, Node | None]] = []
    if flow.settings.hold_music:
        found.append((flow.settings.hold_music, None))
    found.extend((recording(node), node) for node in flow.nodes.values() if recording(node))
    return found


def check_flows(folder: Path, flows: Iterable[Flow], cache_dir: Path | None = None) -> AudioReport:
    """Prepare (into cache_dir) or only check every audio file the flows refer to, paths relative to folder.

    A file that cannot be used is a problem to report, not a reason to refuse the flow: callers hear the
    node's spoken text instead (and the standard hold music instead of a broken hold-music file).
    """
    urls: dict[str, str] = {}
    seconds: dict[str, float] = {}
    problems: list[Problem] = []
    results: dict[str, Prepared | AudioError] = {}
    for flow in flows:
        for written, node in prompts(flow):
            if written not in results:
                try:
                    results[written] = _prepare_written(Path(folder), written, cache_dir)
                except AudioError as exc:
                    results[written] = exc
            result = results[written]
            if isinstance(result, Prepared):
                urls[written] = URL_PREFIX + result.name
                seconds[written] = result.seconds
            elif node is None:
                problems.append(
                    Problem(
                        flow.file,
                        _setting_line(flow.file, "hold_music"),
                        None,
                        f"the hold music '{written}' {result.reason}; "
                        "callers on hold will hear the standard hold music instead",
                    )
                )
            else:
                problems.append(
                    Problem(
                        flow.file,
                        node.line,
                        node.id,
                        f"the recorded prompt '{written}' {result.reason}; "
                        "callers will hear the spoken text (say) instead",
                    )
                )
    return AudioReport(urls, seconds, tuple(problems))


def _prepare_written(folder: Path, written: str, cache_dir: Path | None) -> Prepared:
    relative = PurePosixPath(written.replace("\\", "/"))
    if relative.is_absolute() or PureWindowsPath(written).drive or ".." in relative.parts:
        raise AudioError(
            written, "is not inside the flows folder: write its path from there, such as audio/welcome.mp3"
        )
    source = folder / relative
    return prepare(source, cache_dir) if cache_dir is not None else inspect(source)


def _setting_line(file: str, key: str) -> int | None:
    """The line of a setting, read again from the file (settings do not keep their lines)."""
    try:
        settings = yamlfile.read(Path(file)).get("settings")
        return settings.line_of(key)
    except (IVRError, AttributeError):
        return None
