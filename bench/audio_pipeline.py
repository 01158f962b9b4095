"""Benchmark: demo voice recordings through audio_prep -> audio_clean -> voice_features, and the pitch
extractors compared on signals with known f0.

    OMP_NUM_THREADS=1 python bench/audio_pipeline.py [--copies 3] [--pitch-seconds 30] [--skip crepe_tiny]
    OMP_NUM_THREADS=1 python bench/audio_pipeline.py --pitch-only

Stages: `--copies` sets of the demo recordings (about 2 minutes each, different seeds) are written to a
temporary data root; each stage runs in this process (`main([...])`) and we report minutes of audio
processed per minute of wall time (higher is better). The stages run with their default config
(yin pitch, wiener denoiser, random_tiny content model) plus, for comparison, audio_clean with the
spectral_gate denoiser and voice_features with a full-size (random-weight) HuBERT base shape.
Pitch: every extractor that can run here on `--pitch-seconds` of harmonic tones with vibrato (known
f0, 80-400 Hz, 15 dB SNR halves), speed as x real time and accuracy as median / 95th-percentile
error in cents, with ratios against the default (yin). `fcpe_onnx` is voice_export's pitch.onnx (the same
weights through ONNX Runtime); `rmvpe` runs with random weights in the public file's layout, so only its
speed means something. Results go to bench/out/audio_pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

from pipelines.audio_clean.__main__ import main as audio_clean
from pipelines.audio_prep.__main__ import main as audio_prep
from pipelines.demo_data.audio import write_demo_audio
from pipelines.voice_features.__main__ import main as voice_features
from runtime.voice import pitch

REPO = Path(__file__).resolve().parents[1]
METHODS = ["yin", "dio", "harvest", "fcpe", "fcpe_onnx", "crepe_tiny", "crepe", "rmvpe"]
RANDOM_WEIGHTS = {"rmvpe"}  # speed only


def extractor(method: str, tmp: Path):
    """The extractor under test; the exported/ random-weight ones are written to `tmp` first."""
    if method == "fcpe_onnx":
        from pipelines.voice_export.pitch_graph import export_fcpe

        export_fcpe(tmp / "pitch.onnx")
        return pitch.build("fcpe", onnx_path=tmp / "pitch.onnx")
    if method == "rmvpe":
        from runtime.voice.rmvpe import RMVPE

        torch.save({k: v.half() for k, v in RMVPE().state_dict().items()}, tmp / "rmvpe.pt")
        return pitch.build("rmvpe", model_path=tmp / "rmvpe.pt")
    return pitch.build(method)


def timed(fn, *a):
    t = time.perf_counter()
    fn(*a)
    return time.perf_counter() - t


def bench_stages(copies: int) -> dict:
    root = Path(tempfile.mkdtemp(prefix="still-audio-bench-")) / "data"
    try:
        for i in range(copies):
            write_demo_audio(root / "raw" / "audio" / f"set{i}", seed=7 + i)
        args = [f"paths.data={root}"]
        out = {}
        out["audio_prep"] = timed(audio_prep, args)
        prep = json.loads((root / "interim/audio_prep/report.json").read_text())
        out["audio_clean (wiener)"] = timed(audio_clean, args)
        out["voice_features (yin, random_tiny)"] = timed(voice_features, args)
        clean = json.loads((root / "interim/audio_clean/report.json").read_text())
        out["audio_clean (spectral_gate)"] = timed(audio_clean, [*args, "audio_clean.denoiser=spectral_gate"])
        base = root / "hubert_base_random"
        from transformers import HubertConfig, HubertModel

        torch.manual_seed(0)
        HubertModel(HubertConfig()).save_pretrained(base)  # base shape, random weights (94M)
        out["voice_features (yin, hubert base shape)"] = timed(
            voice_features,
            [*args, "voice_features.content.model=hubert", f"voice_features.content.path={base}"],
        )
        rows = {}
        for name, sec in out.items():
            m = (
                prep["minutes_in"]
                if name == "audio_prep"
                else clean["minutes_in"]
                if "clean" in name
                else clean["minutes_kept"]
            )
            rows[name] = {
                "seconds": round(sec, 2),
                "audio_minutes": m,
                "minutes_per_minute": round(m / (sec / 60), 1),
            }
        return {"minutes_in": prep["minutes_in"], "pieces": prep["pieces"], "stages": rows}
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)


def test_signals(seconds: float, sr: int = 16000):
    rng = np.random.default_rng(0)
    out = []
    n = int(seconds // 5)
    for i in range(n):
        base = float(rng.uniform(80, 400))
        t = np.arange(5 * sr) / sr
        f0 = base * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.3, 1.0) * t))
        ph = 2 * np.pi * np.cumsum(f0) / sr
        x = sum(np.sin(k * ph) / k for k in range(1, 12))
        x = 0.3 * x / np.max(np.abs(x))
        if i % 2:
            x = x + rng.standard_normal(len(x)) * np.sqrt(np.mean(x**2) / 10**1.5)
        grid = np.arange(pitch.n_frames(len(x))) * pitch.HOP
        out.append((x.astype(np.float32), f0[np.minimum(grid, len(f0) - 1)]))
    return out


def bench_pitch(seconds: float, skip: set[str]) -> dict:
    signals = test_signals(seconds)
    total = sum(len(x) for x, _ in signals) / 16000
    rows = {}
    tmp = Path(tempfile.mkdtemp(prefix="still-pitch-"))
    for m in METHODS:
        if m in skip:
            rows[m] = {"skipped": "by --skip"}
            continue
        try:
            t = time.perf_counter()
            fn = extractor(m, tmp)
            load = time.perf_counter() - t
        except pitch.PitchUnavailable as e:
            rows[m] = {"unavailable": str(e)[:160]}
            continue
        errs, voiced, t = [], [], time.perf_counter()
        for x, ref in signals:
            f0 = fn(x)
            v = f0[3:-3] > 0
            voiced.append(v.mean())
            errs.append(np.abs(1200 * np.log2(f0[3:-3][v] / ref[3:-3][v])))
        sec = time.perf_counter() - t
        e = np.concatenate(errs)
        rows[m] = {
            "load_s": round(load, 2),
            "seconds": round(sec, 2),
            "x_realtime": round(total / sec, 1),
            "median_cents": round(float(np.median(e)), 2),
            "p95_cents": round(float(np.percentile(e, 95)), 2),
            "voiced": round(float(np.mean(voiced)), 3),
        }
        if m in RANDOM_WEIGHTS:
            for k in ("median_cents", "p95_cents", "voiced"):
                rows[m].pop(k)
            rows[m]["note"] = "random weights: speed only"
    shutil.rmtree(tmp, ignore_errors=True)
    ref = rows["yin"]
    for r in rows.values():
        if "seconds" in r:
            r["speed_vs_yin"] = round(r["x_realtime"] / ref["x_realtime"], 3)
        if "median_cents" in r:
            r["median_error_vs_yin"] = round(r["median_cents"] / ref["median_cents"], 3)
    return {"audio_seconds": total, "methods": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=3)
    ap.add_argument("--pitch-seconds", type=float, default=30)
    ap.add_argument(
        "--skip",
        nargs="*",
        default=["crepe"],
        help="pitch methods to skip (crepe full: ~15x slower than real time)",
    )
    ap.add_argument("--pitch-only", action="store_true", help="only the pitch extractors")
    a = ap.parse_args()
    torch.set_num_threads(1)
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "load": os.getloadavg()[0],
        "stages": None if a.pitch_only else bench_stages(a.copies),
        "pitch": bench_pitch(a.pitch_seconds, set(a.skip)),
    }
    out = REPO / "bench" / "out" / "audio_pipeline.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
