"""Demo voice recordings of the fictional persona (Chen Meilan), synthesized offline in numpy.

No TTS and no system packages: a glottal pulse train with a natural, declining f0 contour (about
140-250 Hz, a grandmother's voice) excites formant resonators for a sequence of vowels; syllables get
attack/decay envelopes and a consonant noise burst, phrases are separated by pauses (so the silence
slicer has something to find), and noise is added at a known SNR. It sounds like humming speech, not
words: enough to exercise every voice stage, never enough to train a real voice.

    write_demo_audio(folder, seed=7) -> truth  # dict: every file written, what it is, what should happen

Files: recordings in wav/flac/ogg at several rates and SNRs, a WeChat SILK voice message (0x02 +
#!SILK_V3, when silk-python is installed), a stereo 44.1 kHz recording, and bad inputs (zero-length,
truncated flac, text named .mp3, all-silence wav).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

# (F1, F2, F3) in Hz for a few vowels of an adult female voice
VOWELS = {
    "a": (850, 1220, 2810),
    "i": (310, 2790, 3310),
    "u": (370, 950, 2670),
    "e": (560, 2320, 2950),
    "o": (500, 900, 2830),
    "er": (500, 1500, 1700),
}
BANDWIDTHS = (90, 110, 170)


def speech_like(
    seconds: float, sr: int, rng: np.random.Generator, f0_range=(140.0, 250.0)
) -> tuple[np.ndarray, np.ndarray]:
    """Phrases of vowel syllables with pauses; returns (audio with peak 0.5, f0 per sample (0 = unvoiced))."""
    n = int(seconds * sr)
    out = np.zeros(n)
    f0 = np.zeros(n)
    t = int(rng.uniform(0.3, 0.6) * sr)
    while t < n - sr:
        syllables = rng.integers(4, 11)
        start_f0 = rng.uniform(f0_range[0] + 60, f0_range[1])
        for s in range(syllables):
            dur = int(rng.uniform(0.16, 0.34) * sr)
            if t + dur >= n:
                break
            # declination over the phrase plus a tone movement within the syllable
            base = start_f0 * (1 - 0.3 * s / syllables)
            tone = rng.choice([-1.0, 0.0, 1.0]) * rng.uniform(0.05, 0.15)
            contour = base * (1 + tone * np.linspace(-0.5, 0.5, dur))
            contour = np.clip(contour, *f0_range)
            out[t : t + dur] += _syllable(contour, sr, rng)
            f0[t : t + dur] = contour
            t += dur + int(rng.uniform(0.02, 0.08) * sr)
        t += int(rng.uniform(0.6, 1.3) * sr)  # pause between phrases (> slicer min interval)
    return (0.5 * out / (np.max(np.abs(out)) + 1e-9)).astype(np.float32), f0


def _syllable(contour: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    n = len(contour)
    phase = np.cumsum(contour / sr)
    pulses = np.diff(np.floor(phase), prepend=0.0)  # one impulse per glottal period
    src = signal.lfilter([1.0], [1.0, -0.97], pulses)  # glottal roll-off (~ -6 dB/oct)
    src += 0.02 * rng.standard_normal(n)  # aspiration
    f1, f2, f3 = VOWELS[rng.choice(list(VOWELS))]
    y = src
    for f, bw in zip((f1, f2, f3), BANDWIDTHS, strict=True):
        r = np.exp(-np.pi * bw / sr)
        a = [1.0, -2 * r * np.cos(2 * np.pi * f / sr), r * r]
        y = signal.lfilter([1 - r], a, y)
    attack, decay = int(0.03 * sr), int(0.06 * sr)
    env = np.ones(n)
    env[:attack] = np.linspace(0, 1, attack) ** 2
    env[-decay:] = np.linspace(1, 0, decay) ** 2
    y = y * env / (np.max(np.abs(y)) + 1e-9)
    if rng.random() < 0.5:  # a fricative/plosive burst before the vowel
        k = int(0.04 * sr)
        burst = signal.lfilter(
            *signal.butter(2, [2500, min(7000, sr / 2 - 100)], "bandpass", fs=sr), rng.standard_normal(k)
        )
        y[:k] += 0.25 * burst * np.hanning(k) / (np.max(np.abs(burst)) + 1e-9)
    return y


def add_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Pinkish (low-passed) stationary noise at `snr_db` relative to the power of the voiced part."""
    noise = signal.lfilter([1.0], [1.0, -0.9], rng.standard_normal(len(x)))
    active = np.abs(x) > 0.01 * np.max(np.abs(x))
    p_speech = np.mean(x[active] ** 2) if active.any() else np.mean(x**2)
    noise *= np.sqrt(p_speech / 10 ** (snr_db / 10) / np.mean(noise**2))
    return (x + noise).astype(np.float32)


def write_demo_audio(folder: str | Path, seed: int = 7) -> dict:
    """Write the demo recordings (about 2 minutes) and bad inputs into `folder`; return the truth."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    files: list[dict] = []

    def rec(name, seconds, sr, snr_db, fmt, subtype=None):
        x, f0 = speech_like(seconds, sr, rng)
        y = add_noise(x, snr_db, rng, sr)
        sf.write(folder / name, y, sr, format=fmt, subtype=subtype)
        voiced = f0[f0 > 0]
        files.append(
            {
                "file": name,
                "expect": "kept",
                "seconds": seconds,
                "sample_rate": sr,
                "snr_db": snr_db,
                "f0_min": float(voiced.min()),
                "f0_max": float(voiced.max()),
            }
        )

    rec("kitchen_story.wav", 40, 48000, 30, "WAV", "PCM_16")
    rec("balcony_garden.flac", 30, 48000, 12, "FLAC")
    rec("phone_call.ogg", 25, 32000, 25, "OGG", "VORBIS")

    x, _ = speech_like(10, 44100, rng)  # stereo at 44.1 kHz: mixed down, resampled, kept
    st = np.stack([add_noise(x, 30, rng, 44100), add_noise(0.8 * x, 30, rng, 44100)], axis=1)
    sf.write(folder / "stereo_44k.wav", st, 44100, subtype="PCM_16")
    files.append(
        {"file": "stereo_44k.wav", "expect": "kept", "seconds": 10, "sample_rate": 44100, "channels": 2}
    )

    try:
        import pysilk  # silk-python: WeChat's SILK v3 with Tencent's 0x02 prefix

        x, _ = speech_like(10, 24000, rng)
        pcm = (add_noise(x, 30, rng, 24000) * 32767).astype("<i2").tobytes()
        out = io.BytesIO()
        pysilk.encode(io.BytesIO(pcm), out, 24000, 24000, tencent=True)
        (folder / "voice").mkdir(exist_ok=True)
        (folder / "voice" / "msg_demo_0001.silk").write_bytes(out.getvalue())
        files.append(
            {"file": "voice/msg_demo_0001.silk", "expect": "kept", "seconds": 10, "sample_rate": 24000}
        )
    except ImportError:
        pass

    (folder / "empty.wav").write_bytes(b"")
    files.append({"file": "empty.wav", "expect": "dropped", "reason": "empty_file"})
    buf = io.BytesIO()
    sf.write(buf, speech_like(3, 16000, rng)[0], 16000, format="FLAC")
    (folder / "truncated.flac").write_bytes(buf.getvalue()[:200])
    files.append({"file": "truncated.flac", "expect": "dropped", "reason": "unreadable"})
    (folder / "notes.mp3").write_text(
        "外婆的语音备忘录 — not audio, a text file with the wrong extension\n", encoding="utf-8"
    )
    files.append({"file": "notes.mp3", "expect": "dropped", "reason": "not_audio"})
    sf.write(folder / "silence.wav", np.zeros(5 * 16000, np.float32), 16000, subtype="PCM_16")
    files.append({"file": "silence.wav", "expect": "dropped", "reason": "all_silence"})
    return {"seed": seed, "files": files}
