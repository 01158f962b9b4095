"""Stage `voice_features`: clean pieces -> pitch and content features the voice trainer reads.

    python -m pipelines.voice_features paths.data=DIR [voice_features.pitch.method=fcpe]

Per piece, on its 16 kHz copy: f0 in Hz (10 ms hop, 50-1100 Hz; extractor from the registry in
`runtime.voice.pitch`, default `yin`) and RVC's coarse pitch (1..255 mel bins); content features
(HuBERT/ContentVec, `content.py`) at 50 fps repeated 2x onto the same 100 fps grid. Outputs under
`features/`, `f0/`, `f0_coarse/` (`<piece>.npy`), plus `manifest.jsonl` (one row per piece: paths
relative to the output folder, frame count, pitch statistics) and `report.json`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
from omegaconf import DictConfig

from pipelines.stage import StageError
from pipelines.voice_features import content
from runtime.voice import pitch

FPS = 100
PieceIn = tuple[dict, np.ndarray, str, str]  # (row, 16 kHz audio, model-rate wav path, 16k wav path)
Save = Callable[[str, np.ndarray], str]  # (relative path, array) -> relative path written


def build_pitch(c: DictConfig):
    kw = {"f0_min": float(c.f0_min), "f0_max": float(c.f0_max)}
    if str(c.method) == "rmvpe":
        kw["model_path"] = c.rmvpe_path
    try:
        return pitch.build(str(c.method), **kw)
    except pitch.PitchUnavailable as e:
        raise StageError(f"voice_features.pitch.method={c.method}: {e}") from None


def run(
    cfg: DictConfig, pieces: Iterable[PieceIn], save: Save, f0_fn=None, content_model=None
) -> tuple[list[dict], dict]:
    """Featurize every piece; returns (manifest rows, report)."""
    c = cfg.voice_features
    f0_fn = f0_fn or build_pitch(c.pitch)
    cm = content_model or content.load(c.content)
    rows, voiced_hz, frames = [], [], 0
    for row, x16, wav_path, wav16_path in pieces:
        pid = row["piece"]
        f0 = f0_fn(x16)
        n = len(f0)
        feats = content.align_to_pitch(cm(x16), n)
        coarse = pitch.coarse_f0(f0, float(c.pitch.f0_min), float(c.pitch.f0_max))
        v = f0[f0 > 0]
        voiced_hz.append(v)
        frames += n
        rows.append(
            {
                "piece": pid,
                "source": row.get("source"),
                "wav": wav_path,
                "wav16k": wav16_path,
                "features": save(f"features/{pid}.npy", feats.astype(np.float32)),
                "f0": save(f"f0/{pid}.npy", f0.astype(np.float32)),
                "f0_coarse": save(f"f0_coarse/{pid}.npy", coarse.astype(np.int64)),
                "frames": n,
                "seconds": round(len(x16) / pitch.SR, 4),
                "voiced_fraction": round(float(len(v) / max(n, 1)), 4),
                "f0_median_hz": round(float(np.median(v)), 2) if len(v) else None,
            }
        )
    allv = np.concatenate(voiced_hz) if voiced_hz else np.zeros(0)
    report = {
        "pieces": len(rows),
        "frames": frames,
        "fps": FPS,
        "pitch_method": str(c.pitch.method),
        "content_model": str(c.content.model),
        "content_version": str(c.content.version),
        "feature_dim": cm.dim,
        "content_features_meaningful": cm.meaningful,
        "content_description": cm.description,
        "f0_hz_percentiles": {str(q): round(float(np.percentile(allv, q)), 2) for q in (5, 50, 95)}
        if len(allv)
        else {},
    }
    if not cm.meaningful:
        report["WARNING"] = content.NOT_CONTENT_WARNING
    return rows, report
