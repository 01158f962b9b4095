"""Benchmark: the live face engine per frame, 4K camera frames processed at 1080p.

    OMP_NUM_THREADS=1 python bench/face_live.py [--frames 90] [--append]

Three paths over the same synthetic 4K clip (another person's face moving slowly across the frame):
- `naive`: what the engine replaces: the full-resolution 1080p frame handed to the detector on
  every frame, no tracking, no smoothing, and the swapped face blended back over the whole frame
  (`paste_full`); classic swap;
- `classic`: `runtime.face.engine.LiveFace` with the classic swapper (the offline default);
- `inswapper`: the same engine with an inswapper_128-shaped ONNX graph with random weights (the
  interface and input/output sizes of the real one; its compute is far smaller, so its ms are a
  floor for the real model, which needs a GPU: see --inswapper).

Reported per path: ms per frame (mean, p95) and FPS; the swap model's own ms; and "pipeline ms"
(everything but the swap model: resize, detect/track, checks, align, colour, mask, paste, mark).
`--inswapper FILE` times a real inswapper_128.onnx instead of the random one (on a GPU, install
onnxruntime-gpu first). `--append` adds the table to bench/RESULTS.md under today's date.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from runtime.face.detect import YuNet  # noqa: E402
from runtime.face.engine import LiveFace  # noqa: E402
from runtime.face.faceset import FaceSet  # noqa: E402
from runtime.face.geometry import (  # noqa: E402
    feather_mask,
    fit_similarity,
    paste_full,
    template,
    transform_points,
    warp_face,
)
from runtime.face.settings import LiveSettings  # noqa: E402
from runtime.face.swappers import build_swapper  # noqa: E402
from runtime.onnx_sessions import available_providers  # noqa: E402
from tests import face_scenes as fs  # noqa: E402
from tests.onnx_graphs import inswapper_like  # noqa: E402


def clip(frames: int) -> list[np.ndarray]:
    """4K frames with the caller's face (~640 px) drifting right and back."""
    face = fs.caller_face(640)
    out = []
    for i in range(frames):
        x = 1500 + 400 * np.sin(i / frames * 2 * np.pi)
        out.append(fs.scene(face, centre=(x, 1080), frame=(2160, 3840)))
    return out


def naive(frames, faceset, settings) -> dict:
    """Detect on every 1080p frame, swap, blend over the whole frame."""
    detector, sw = YuNet(faceset.detector), build_swapper("classic", faceset)
    mask = feather_mask(sw.size, settings.mask_margin, settings.mask_blur)
    tpl = template(sw.template, sw.size)
    total, swap = [], []
    for f in frames:
        t0 = time.perf_counter()
        frame = cv2.resize(f, (1920, 1080), interpolation=cv2.INTER_AREA)
        found = detector.detect(frame)
        if found:
            pts = max(found, key=lambda d: d.area).points
            m = fit_similarity(pts, tpl)
            t1 = time.perf_counter()
            face, fmask = sw.swap(warp_face(frame, m, sw.size), transform_points(m, pts))
            swap.append(time.perf_counter() - t1)
            frame = paste_full(frame, face, m, fmask * mask)
        total.append(time.perf_counter() - t0)
    return summary(total, swap)


def engine_run(frames, engine: LiveFace) -> dict:
    total = []
    for i, f in enumerate(frames):
        t0 = time.perf_counter()
        engine.process(f, i / 30)
        total.append(time.perf_counter() - t0)
    return summary(total, list(engine.stats.swap.recent))


def summary(total: list[float], swap: list[float]) -> dict:
    t = np.array(total[5:]) * 1000  # the first frames warm caches and sessions up
    s = np.array(swap[5:] or [0.0]) * 1000
    return {"mean": t.mean(), "p95": np.percentile(t, 95), "fps": 1000 / t.mean(), "swap": s.mean(),
            "pipeline": t.mean() - s.mean()}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=90)
    p.add_argument("--inswapper", type=Path, default=None, help="a real inswapper_128.onnx")
    p.add_argument("--append", action="store_true")
    args = p.parse_args()
    frames = clip(args.frames)
    settings = LiveSettings(disclosure=True)
    with tempfile.TemporaryDirectory() as tmp:
        identity = np.random.default_rng(0).normal(size=512).astype(np.float32)
        identity /= np.linalg.norm(identity)
        folder = fs.write_faceset(
            Path(tmp) / "face", size=256, nose_shifts=(0.0, 16.0, -16.0), arcface=identity
        )
        faceset = FaceSet.load(folder)
        model = args.inswapper or inswapper_like(Path(tmp) / "inswapper.onnx")
        rows = {"naive (detect every frame, full-frame paste)": naive(frames, faceset, settings)}
        for name, sw in (("classic", build_swapper("classic", faceset)),
                         ("inswapper" + (" (real)" if args.inswapper else " (random weights)"),
                          build_swapper("inswapper", faceset, model=model))):  # fmt: skip
            rows[name] = engine_run(frames, LiveFace(YuNet(faceset.detector), sw, settings))
    base = rows["naive (detect every frame, full-frame paste)"]
    lines = [
        f"4K input -> 1080p processing, {args.frames} frames, {platform.processor() or platform.machine()}, "
        f"providers {available_providers()}",
        "",
        "| path | ms/frame (p95) | FPS | swap model ms | pipeline ms (all but the model) | naive / this |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['mean']:.1f} ({r['p95']:.1f}) | {r['fps']:.1f} | {r['swap']:.1f} | "
                     f"{r['pipeline']:.1f} | {base['mean'] / r['mean']:.2f}x |")  # fmt: skip
    table = "\n".join(lines)
    print(table)
    if args.append:
        with (REPO / "bench" / "RESULTS.md").open("a", encoding="utf-8") as f:
            title = f"live face engine (`bench/face_live.py --frames {args.frames}`)"
            f.write(f"\n## {datetime.date.today()} — {title}\n\n")
            f.write(table + "\n")


if __name__ == "__main__":
    main()
