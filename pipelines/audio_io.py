"""Reading any audio a user or WeChat left behind, and writing the pipeline's wavs.

Decoders need no system ffmpeg: soundfile (libsndfile 1.2: wav, flac, ogg/vorbis, ogg/opus, mp3)
and silk-python for WeChat voice messages (SILK v3, with or without Tencent's leading 0x02 byte).
m4a/aac go through PyAV (its wheels bundle FFmpeg's libraries) when it is installed; otherwise
the file is dropped with a reason saying what to install. The codec is chosen from the file's
first bytes, not its extension, so a mislabelled file still decodes (and the mismatch is noted).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SILK_RATE = 24000  # WeChat voice messages are SILK at 24 kHz
AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".opus", ".silk", ".amr", ".slk", ".mp4"}


class AudioDecodeError(Exception):
    """A file that cannot become audio; `reason` is a short key for reports, str() says why/what to do."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class Decoded:
    audio: np.ndarray  # float32 (samples, channels)
    sr: int
    container: str  # what the bytes are: wav, flac, ogg, mp3, silk, mp4
    note: str = ""  # e.g. "extension .mp3 but content is wav"


def sniff(head: bytes) -> str:
    """Container from the first bytes: wav, flac, ogg, mp3, silk, amr, mp4, aac, text, or unknown."""
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:9] == b"#!SILK_V3" or head[1:10] == b"#!SILK_V3":
        return "silk"
    if head[:5] == b"#!AMR":
        return "amr"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0):
        # MPEG audio frame sync; ADTS AAC shares the sync word but has layer bits 00
        return "aac" if (head[1] & 0x06) == 0 and head[:3] != b"ID3" else "mp3"
    try:
        text = head.decode("utf-8")
        if text and all(c.isprintable() or c.isspace() for c in text):
            return "text"
    except UnicodeDecodeError:
        pass
    return "unknown"


def decode(path: Path) -> Decoded:
    """Decode one file to float32 samples; raises AudioDecodeError with a reason and a fix."""
    data = Path(path).read_bytes()
    if not data:
        raise AudioDecodeError("empty_file", "zero-length file: nothing to decode (re-export or remove it)")
    kind = sniff(data[:64])
    ext = Path(path).suffix.lower()
    note = ""
    expected = {
        ".wav": "wav",
        ".flac": "flac",
        ".ogg": "ogg",
        ".opus": "ogg",
        ".mp3": "mp3",
        ".silk": "silk",
        ".slk": "silk",
        ".amr": "silk",
        ".m4a": "mp4",
        ".mp4": "mp4",
        ".aac": "aac",
    }
    if expected.get(ext) not in (kind, None) and not (ext == ".amr" and kind == "amr"):
        note = f"extension {ext} but content is {kind}"
    if kind == "text":
        raise AudioDecodeError("not_audio", f"not audio: the file is text ({note or 'no audio header'})")
    if kind == "silk":
        return Decoded(_decode_silk(data), SILK_RATE, "silk", note)
    if kind == "amr":
        raise AudioDecodeError(
            "unsupported_codec",
            "AMR-NB (not WeChat's SILK) needs ffmpeg: convert it with `ffmpeg -i FILE out.wav` "
            "and put the wav here",
        )
    if kind in ("mp4", "aac"):
        return _decode_av(data, kind, note)
    try:
        audio, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as e:  # libsndfile's errors are RuntimeError/LibsndfileError with a message
        what = "corrupt or truncated" if kind != "unknown" else "unknown format"
        raise AudioDecodeError(
            "unreadable" if kind != "unknown" else "unknown_format",
            f"{what} ({kind}): {e}. Re-export the file, or convert it to wav/flac",
        ) from None
    if audio.shape[0] == 0:
        raise AudioDecodeError("no_samples", f"{kind} file holds no samples (truncated header-only file?)")
    if not np.isfinite(audio).all():
        raise AudioDecodeError("corrupt", "file decodes to NaN/inf samples (corrupt data)")
    return Decoded(audio, int(sr), kind, note)


def _decode_silk(data: bytes) -> np.ndarray:
    try:
        import pysilk  # silk-python
    except ImportError:
        raise AudioDecodeError(
            "decoder_missing", "WeChat SILK voice message: install silk-python (pip install silk-python)"
        ) from None
    out = io.BytesIO()
    try:
        pysilk.decode(io.BytesIO(data), out, SILK_RATE)
    except Exception as e:
        raise AudioDecodeError("unreadable", f"corrupt or truncated SILK voice message: {e}") from None
    pcm = np.frombuffer(out.getvalue(), dtype="<i2")
    if pcm.size == 0:
        raise AudioDecodeError("no_samples", "SILK voice message decodes to no samples (truncated?)")
    return (pcm.astype(np.float32) / 32768.0)[:, None]


def _decode_av(data: bytes, kind: str, note: str) -> Decoded:
    try:
        import av  # PyAV: wheels bundle FFmpeg's libraries, no system ffmpeg needed
    except ImportError:
        raise AudioDecodeError(
            "unsupported_codec",
            f"{kind} (AAC) audio needs a decoder not installed here: `pip install av` (PyAV, bundles FFmpeg "
            "libraries), or convert with `ffmpeg -i FILE out.flac` and put the flac here",
        ) from None
    try:
        with av.open(io.BytesIO(data)) as f:
            stream = f.streams.audio[0]
            frames = [fr.to_ndarray() for fr in f.decode(stream)]
            sr = stream.rate
        arr = np.concatenate([a.reshape(a.shape[0], -1) if a.ndim == 2 else a[None] for a in frames], axis=1)
        arr = arr.astype(np.float32)
        if np.issubdtype(frames[0].dtype, np.integer):
            arr /= float(np.iinfo(frames[0].dtype).max)
        return Decoded(arr.T, int(sr), kind, note)
    except Exception as e:
        raise AudioDecodeError("unreadable", f"corrupt or truncated {kind} file: {e}") from None


def to_mono(audio: np.ndarray) -> np.ndarray:
    """(samples, channels) -> (samples,), averaging channels."""
    return audio.mean(axis=1).astype(np.float32) if audio.ndim == 2 else audio.astype(np.float32)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """High-quality resampling (soxr, VHQ)."""
    if sr_in == sr_out:
        return x.astype(np.float32, copy=False)
    return soxr.resample(x, sr_in, sr_out, quality="VHQ").astype(np.float32)


def write_wav(path: Path, x: np.ndarray, sr: int) -> None:
    """Mono float32 wav (no quantisation: downstream features read exactly what was written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.asarray(x, dtype=np.float32), sr, subtype="FLOAT")


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    x, sr = sf.read(path, dtype="float32")
    return x, int(sr)


def read_listed_wav(
    path: Path, listing: Path, written_by: str, rate: int | None = None
) -> tuple[np.ndarray, int]:
    """A wav that a stage's `listing` names; a missing file (or, with `rate`, another sample rate) stops
    the stage naming both files and the stage to re-run."""
    from pipelines.stage import StageError

    path = Path(path)
    if not path.exists():
        raise StageError(f"{path} listed in {listing} is missing: re-run {written_by}")
    x, sr = read_wav(path)
    if rate is not None and sr != rate:
        raise StageError(f"{path} is {sr} Hz, expected {rate}: re-run {written_by}")
    return x, sr
