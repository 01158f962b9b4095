"""Stage `audio_clean`: audio_prep's pieces -> denoised pieces that pass an SNR gate.

    python -m pipelines.audio_clean paths.data=DIR [audio_clean.denoiser=demucs]

The denoiser comes from a registry (`denoisers.DENOISERS`): `spectral_gate` (noisereduce, no weights,
default), `demucs` (vocal stem of a user-supplied htdemucs model), `none`. Each piece's SNR is
estimated before and after (reference-free, `audio_dsp.estimate_snr_db`); pieces still below
`min_snr_db` are dropped with the reason. Clean pieces pass through unchanged.

Outputs (folder, atomic): `wav/<piece>.wav` (model rate), `wav16k/<piece>.wav`, `pieces.jsonl`,
`report.json`, `metrics.json`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

import numpy as np
from omegaconf import DictConfig

from pipelines import audio_dsp, audio_io
from pipelines.audio_clean import denoisers

FEATURE_RATE = 16000

# (piece row, model-rate audio, sr) in; (piece id, cleaned model-rate audio, cleaned 16 kHz audio) out
PieceIn = tuple[dict, np.ndarray, int]
WritePiece = Callable[[str, np.ndarray, np.ndarray], None]


def run(
    cfg: DictConfig, pieces: Iterable[PieceIn], write_piece: WritePiece, denoise=None
) -> tuple[list[dict], dict]:
    """Clean every piece; returns (kept piece rows, report)."""
    c = cfg.audio_clean
    denoise = denoise or denoisers.build(c)
    kept, dropped = [], []
    snr_before, snr_after = [], []
    drops: Counter = Counter()
    seconds_in = 0.0
    for row, x, sr in pieces:
        seconds_in += len(x) / sr
        before = audio_dsp.estimate_snr_db(x, sr)
        y = np.asarray(denoise(x, sr), np.float32)
        after = audio_dsp.estimate_snr_db(y, sr)
        info = {
            **row,
            "snr_before_db": _r(before),
            "snr_after_db": _r(after),
            "changed_db": _r(audio_dsp.rms_db(y - x) - audio_dsp.rms_db(x)),
        }
        snr_before.append(before)
        snr_after.append(after)
        if not np.isfinite(after) or after < float(c.min_snr_db):
            dropped.append(
                {
                    **info,
                    "reason": "too_noisy",
                    "detail": f"estimated SNR {after:.1f} dB after cleaning < min_snr_db {c.min_snr_db}",
                }
            )
            drops["too_noisy"] += 1
            continue
        write_piece(row["piece"], y, audio_io.resample(y, sr, FEATURE_RATE))
        kept.append(info)
    sec_kept = sum(r["seconds"] for r in kept)
    report = {
        "denoiser": str(c.denoiser),
        "min_snr_db": float(c.min_snr_db),
        "pieces_in": len(snr_before),
        "pieces_kept": len(kept),
        "minutes_in": round(seconds_in / 60, 3),
        "minutes_kept": round(sec_kept / 60, 3),
        "snr_before_median_db": _r(np.nanmedian(snr_before)) if snr_before else None,
        "snr_after_median_db": _r(np.nanmedian(snr_after)) if snr_after else None,
        "drops_by_reason": dict(drops),
        "dropped": dropped,
    }
    return kept, report


def _r(v) -> float | None:
    return round(float(v), 2) if v is not None and np.isfinite(v) else None


def metrics(report: dict) -> dict:
    keys = ("pieces_in", "pieces_kept", "minutes_kept", "snr_before_median_db", "snr_after_median_db")
    return {k: report[k] for k in keys}
