"""Signal processing shared by the voice stages: high-pass, RMS silence slicing, chunking into
training pieces, loudness, clipping and a reference-free SNR estimate.

The slicer follows RVC's conventions (threshold -42 dB, min length 1500 ms, min interval 400 ms,
hop 15 ms, max silence kept 500 ms) but is written here from their description.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

EPS = 1e-10


def highpass(x: np.ndarray, sr: int, cutoff_hz: float = 48.0, order: int = 5) -> np.ndarray:
    """Zero-phase Butterworth high-pass (removes rumble and DC)."""
    sos = signal.butter(order, cutoff_hz, btype="highpass", fs=sr, output="sos")
    if len(x) <= 3 * (2 * len(sos) + 1):
        return x.astype(np.float32)
    return signal.sosfiltfilt(sos, x).astype(np.float32)


def frame_rms_db(x: np.ndarray, hop: int, win: int) -> np.ndarray:
    """RMS level in dBFS of centred frames every `hop` samples (frame i is centred on i*hop)."""
    pad = win // 2
    xp = np.pad(x.astype(np.float64), (pad, pad))
    c = np.concatenate([[0.0], np.cumsum(xp**2)])
    n = len(x) // hop + 1
    starts = np.arange(n) * hop
    ends = np.minimum(starts + win, len(xp))
    power = (c[ends] - c[starts]) / np.maximum(ends - starts, 1)
    return 10 * np.log10(power + EPS)


@dataclass(frozen=True)
class SlicerParams:
    threshold_db: float = -42.0
    min_length_ms: int = 1500
    min_interval_ms: int = 400
    hop_ms: int = 15
    max_sil_kept_ms: int = 500


def slice_on_silence(x: np.ndarray, sr: int, p: SlicerParams = SlicerParams()) -> list[tuple[int, int]]:
    """Voiced regions as (start, end) sample ranges.

    Silences (frames below `threshold_db`) of at least `min_interval_ms` are cut candidates; a cut is
    made only if the segment before it is at least `min_length_ms` long (otherwise the silence stays
    inside the segment). Each side of a cut keeps at most `max_sil_kept_ms` of silence; a shorter
    silence is cut at its quietest frame. Segments with no frame above the threshold are left out.
    """
    hop = max(1, round(sr * p.hop_ms / 1000))
    win = min(round(sr * p.min_interval_ms / 1000), 4 * hop)
    db = frame_rms_db(x, hop, win)
    loud = db >= p.threshold_db
    if not loud.any():
        return []
    n = len(db)
    min_interval = max(1, round(p.min_interval_ms / p.hop_ms))
    min_length = round(p.min_length_ms / p.hop_ms)
    kept = round(p.max_sil_kept_ms / p.hop_ms)

    # runs of silent frames: [a, b)
    edges = np.diff(np.concatenate([[0], (~loud).astype(np.int8), [0]]))
    runs = list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))
    segments: list[tuple[int, int]] = []
    start = 0
    for a, b in runs:
        if a == 0:  # leading silence: trim to at most `kept`
            start = max(0, b - kept)
            continue
        if b == n:  # trailing silence
            segments.append((start, min(n, a + kept)))
            start = n
            break
        if b - a < min_interval:
            continue
        if b - a <= 2 * kept:
            cut = a + int(np.argmin(db[a:b]))
            end, nxt = cut, cut
        else:
            end, nxt = a + kept, b - kept
        if end - start < min_length:
            continue  # too short to stand alone: keep the silence inside this segment
        segments.append((start, end))
        start = nxt
    if start < n:
        segments.append((start, n))
    out = []
    for s, e in segments:
        if loud[s:e].any():
            out.append((s * hop, min(len(x), e * hop)))
    return out


def chunk(
    start: int, end: int, sr: int, piece_s: float = 3.7, overlap_s: float = 0.3
) -> list[tuple[int, int]]:
    """Cut [start, end) into pieces of `piece_s` overlapping by `overlap_s`; the last piece takes the
    rest when at most `piece_s + overlap_s` remains (so pieces are at most that long)."""
    size, step = round(piece_s * sr), round((piece_s - overlap_s) * sr)
    out, s = [], start
    while True:
        if end - s <= size + round(overlap_s * sr):
            out.append((s, end))
            return out
        out.append((s, s + size))
        s += step


def clipped_fraction(x: np.ndarray, level: float = 0.99) -> float:
    """Fraction of samples at (or beyond) full scale."""
    return float(np.mean(np.abs(x) >= level)) if len(x) else 0.0


def rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + EPS))


def loudness_lufs(x: np.ndarray, sr: int) -> float:
    """Integrated loudness (ITU-R BS.1770-4, pyloudnorm); -inf for silence or audio < 0.4 s."""
    import pyloudnorm

    if len(x) < int(0.4 * sr) + 1:
        return float("-inf")
    return float(pyloudnorm.Meter(sr).integrated_loudness(np.asarray(x, np.float64)))


def estimate_snr_db(x: np.ndarray, sr: int, frame_ms: float = 20.0, cap_db: float = 80.0) -> float:
    """Reference-free SNR: speech power (frames above the 70th percentile) over the noise floor (mean
    of the quietest 15% of frames), in dB, capped at `cap_db`. Speech has pauses between syllables
    and words; the quietest frames hold only noise. Biased low for continuous speech with no pauses."""
    n = max(1, int(sr * frame_ms / 1000))
    m = len(x) // n
    if m < 8:
        return float("nan")
    p = np.mean(np.asarray(x[: m * n], np.float64).reshape(m, n) ** 2, axis=1)
    p.sort()
    noise = p[: max(1, int(0.15 * m))].mean()
    speech = p[int(0.7 * m) :].mean()
    if speech <= EPS:
        return float("nan")
    if noise <= speech * 10 ** (-cap_db / 10):
        return cap_db
    return float(min(cap_db, 10 * np.log10(max(speech - noise, EPS) / noise)))


def quietest_frames(x: np.ndarray, sr: int, fraction: float = 0.15, frame_ms: float = 20.0) -> np.ndarray:
    """The quietest `fraction` of frames, concatenated in time order: a noise sample for denoisers."""
    n = max(1, int(sr * frame_ms / 1000))
    m = len(x) // n
    if m == 0:
        return np.asarray(x, np.float32)
    frames = np.asarray(x[: m * n]).reshape(m, n)
    order = np.argsort(np.mean(frames.astype(np.float64) ** 2, axis=1))[: max(1, int(fraction * m))]
    return frames[np.sort(order)].reshape(-1).astype(np.float32)
