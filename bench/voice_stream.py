"""Benchmark: the streaming voice converter (rolling buffers, tail decoding) against a naive converter
that re-runs pitch, retrieval and the whole synthesizer window (extra context included) every block.

    OMP_NUM_THREADS=1 python bench/voice_stream.py [--seconds 6] [--extra 0.5] [--threads 2] \
        [--content tiny|base] [--models tiny,48k_v2] [--blocks 0.1,0.15,0.25]

Models: the full-size RVC v2 48k synthesizer and the tiny demo one, random weights (speed does not
depend on training), exported by voice_export's functions to a temporary folder (ONNX Runtime, the
runtime's default back-end). Content encoder: `--content tiny` is the demo's random tiny HuBERT (the
synthesizer dominates); `--content base` is a random-weight HuBERT base shape (94M, what real models
use). Pitch: yin. Input: harmonic speech-like tones, no silence (nothing is skipped).
Per block size (0.10 / 0.15 / 0.25 s; crossfade 0.05 s, SOLA search 0.01 s) we report the compute per
block (mean, p95), the real-time factor (compute / block duration; < 1 keeps up), and the latency =
algorithmic (block + crossfade + search) + p95 compute. Ratios are naive / streaming compute.
Results: bench/out/voice_stream.json (append the table to bench/RESULTS.md by hand or with --append).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
BLOCKS = (0.10, 0.15, 0.25)


def export_random(model: str, content_kind: str, folder: Path) -> Path:
    """voice_export on a random-weight synthesizer of the `model` preset + a random index."""
    import faiss
    from omegaconf import OmegaConf

    from pipelines.stage import compose_config
    from pipelines.voice_export import run
    from pipelines.voice_features import content
    from pipelines.voice_train import build_index, synth_config
    from runtime.voice.synth import Synthesizer

    cfg = compose_config([f"paths.data={folder}", f"voice_train/model={model}"])
    torch.manual_seed(0)
    net = Synthesizer(synth_config(cfg))
    src = Path(cfg.voice_export.input)
    src.mkdir(parents=True)
    torch.save({"model": net.state_dict(), "config": net.cfg.to_dict(), "iteration": 0}, src / "G.pth")
    feats = np.random.default_rng(0).standard_normal((20000, 768)).astype(np.float32)  # ~3.3 min of speech
    faiss.write_index(build_index(feats), str(src / "features.index"))
    OmegaConf.update(cfg, "voice_export.convert.enabled", False)
    out = folder / "export"
    out.mkdir()
    if content_kind == "base":
        from transformers import HubertConfig, HubertModel

        torch.manual_seed(0)
        cm = content.ContentModel(
            HubertModel(HubertConfig()).eval(), 12, None, 768, False, "random HuBERT base"
        )
    else:
        cm = content.load(cfg.voice_features.content)
    run(cfg, cm, out, None)
    return out


def speechlike(seconds: float, sr: int = 16000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 150 * (1 + 0.15 * np.sin(2 * np.pi * 0.8 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 15)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return (0.25 * x / np.abs(x).max() + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


def measure(model_dir: Path, block: float, extra: float, naive: bool, seconds: float, threads: int) -> dict:
    from runtime.voice.convert import Settings, StreamingConverter, VoiceConverter

    s = Settings(block=block, extra=extra, crossfade=0.05, search=0.01, index_rate=0.5)
    sc = StreamingConverter(VoiceConverter(model_dir, s, backend="onnx", threads=threads), naive=naive)
    x = speechlike(seconds)
    n = len(x) // sc.block16
    warm = 2
    for i in range(n):
        sc.process(x[i * sc.block16 : (i + 1) * sc.block16])
    times = np.array(list(sc.compute.recent)[warm:])
    stages = {k: round(1000 * v / n, 2) for k, v in sc.vc.timings.items()}
    return {
        "blocks": len(times),
        "mean_ms": round(1000 * float(times.mean()), 2),
        "p95_ms": round(1000 * float(np.percentile(times, 95)), 2),
        "rtf": round(float(times.mean()) / (sc.block16 / 16000), 3),
        "algorithmic_ms": round(1000 * sc.latency_s, 1),
        "latency_ms": round(1000 * sc.latency_s + 1000 * float(np.percentile(times, 95)), 1),
        "per_stage_ms": stages,
        "window_s": round(sc.window16 / 16000, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--extra", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--content", choices=("tiny", "base"), default="tiny")
    ap.add_argument("--models", default="tiny,48k_v2", help="voice_train/model presets, comma-separated")
    ap.add_argument("--blocks", default=",".join(map(str, BLOCKS)), help="block sizes in seconds")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = {
        "date": str(date.today()),
        "extra_s": args.extra,
        "threads": args.threads,
        "content": args.content,
        "cuda": torch.cuda.is_available(),
        "rows": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            t0 = time.time()
            folder = export_random(model, args.content, Path(tmp) / model)
            print(f"# {model}: exported in {time.time() - t0:.1f} s")
            for block in map(float, args.blocks.split(",")):
                row = {"model": model, "block_s": block}
                for kind in ("streaming", "naive"):
                    row[kind] = measure(
                        folder, block, args.extra, kind == "naive", args.seconds, args.threads
                    )
                row["naive_over_streaming"] = round(row["naive"]["mean_ms"] / row["streaming"]["mean_ms"], 2)
                results["rows"].append(row)
                st, nv = row["streaming"], row["naive"]
                print(
                    f"{model:7s} block {block:.2f}s | streaming {st['mean_ms']:7.1f} ms "
                    f"(p95 {st['p95_ms']:7.1f}) "
                    f"RTF {st['rtf']:.2f} latency {st['latency_ms']:6.1f} ms | naive {nv['mean_ms']:7.1f} ms "
                    f"RTF {nv['rtf']:.2f} | naive/streaming {row['naive_over_streaming']:.2f}x | "
                    f"stages {st['per_stage_ms']}"
                )
    out = REPO / "bench" / "out" / "voice_stream.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
