"""Benchmark: the face stages on the demo photos, and the per-frame parts the live call reuses.

    OMP_NUM_THREADS=1 python bench/face_pipeline.py [--copies 3] [--frames 60] [--append]

1. Photos per second for `face_align` and `face_curate` (each stage run in-process through its
   `main()`, models loaded inside the timing) on `--copies` copies of the demo photo set.
2. Milliseconds per 1080p frame for what the live path will reuse: detect (YuNet on a 640-wide
   copy), five points (MTCNN on a crop around the box), align (similarity fit + 128 warp), and
   paste back — the ROI paste with the cached feathered mask (`runtime.face.geometry.paste_roi`)
   against, in the same run, the full-frame paste baseline (`paste_full`). The "swap" in between is
   a stand-in (the crop's colours inverted): no model is timed.
`--append` adds the table to bench/RESULTS.md under today's date.
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.demo_data.photos import write_photos  # noqa: E402
from pipelines.face_align.__main__ import main as face_align  # noqa: E402
from pipelines.face_align.detectors import YuNetMTCNNDetector  # noqa: E402
from pipelines.face_curate.__main__ import main as face_curate  # noqa: E402
from runtime.face.geometry import (  # noqa: E402
    arcface_template,
    feather_mask,
    fit_similarity,
    paste_full,
    paste_roi,
    warp_face,
)


def stage_throughput(copies: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        photos = root / "raw" / "photos"
        for k in range(copies):
            write_photos(photos / f"set{k}", seed=k)
        n = sum(1 for _ in photos.rglob("*") if _.is_file())
        argv = [f"paths.data={root}"]
        out = {"photos": n}
        for name, main in (("face_align", face_align), ("face_curate", face_curate)):
            t = time.perf_counter()
            main(argv)
            out[name] = time.perf_counter() - t
        shutil.rmtree(root)
    return out


def frame_1080p() -> tuple[np.ndarray, np.ndarray]:
    """A 1920x1080 frame with the astronaut's face about 200 px wide, and its reference points."""
    from skimage import data

    rng = np.random.default_rng(0)
    frame = rng.integers(40, 200, (1080, 1920, 3), np.uint8)
    frame = cv2.GaussianBlur(frame, (0, 0), 3)
    face = cv2.resize(data.astronaut()[..., ::-1], (1100, 1100), interpolation=cv2.INTER_CUBIC)
    frame[0:1080, 700:1800] = face[0:1080]
    return frame, face


def per_frame(frames: int, detect_side: int) -> dict:
    frame, _ = frame_1080p()
    det = YuNetMTCNNDetector()
    mask = feather_mask(128)
    tpl = arcface_template(128)
    times = {k: [] for k in ("detect", "landmarks", "align", "paste_roi", "paste_full")}
    for i in range(frames + 3):
        t0 = time.perf_counter()
        small, scale = cv2.resize(frame, (detect_side, round(1080 * detect_side / 1920))), detect_side / 1920
        boxes = det.boxes(small)
        t1 = time.perf_counter()
        face = det.refine(frame, boxes[0].scaled(1 / scale))
        t2 = time.perf_counter()
        m = fit_similarity(face.points, tpl)
        crop = warp_face(frame, m, 128)
        t3 = time.perf_counter()
        swapped = 255 - crop  # stand-in for the swap model
        target = frame.copy()
        t4 = time.perf_counter()
        paste_roi(target, swapped, m, mask)
        t5 = time.perf_counter()
        paste_full(frame, swapped, m, mask)
        t6 = time.perf_counter()
        if i >= 3:  # warm-up frames are not counted
            for k, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2, t5 - t4, t6 - t5), strict=True):
                times[k].append(dt)
    return {k: 1000 * statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=3)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--detect-side", type=int, default=640)
    ap.add_argument("--append", action="store_true")
    args = ap.parse_args()

    s = stage_throughput(args.copies)
    f = per_frame(args.frames, args.detect_side)
    shared = f["detect"] + f["landmarks"] + f["align"]
    roi_total, full_total = shared + f["paste_roi"], shared + f["paste_full"]
    lines = [
        f"## {datetime.date.today().isoformat()} — face pipeline (`bench/face_pipeline.py`)",
        "",
        f"Demo photo set x{args.copies} ({s['photos']} files: persona variants, other people, non-faces, bad "
        "files, a 7200x1600 panorama); each stage in-process through its `main()`, model loading included; "
        f"{cv2.getNumThreads()} OpenCV threads, OMP_NUM_THREADS=1.",
        "",
        "| stage | seconds | photos/s |",
        "| --- | ---: | ---: |",
        *(f"| {k} | {s[k]:.1f} | {s['photos'] / s[k]:.1f} |" for k in ("face_align", "face_curate")),
        "",
        f"Per 1080p frame (median of {args.frames}; face ~200 px wide; YuNet on a {args.detect_side}-wide "
        "copy, MTCNN points on a 256 crop, ArcFace-128 align; swap model not included):",
        "",
        "| part | ms |",
        "| --- | ---: |",
        f"| detect (resize + YuNet) | {f['detect']:.1f} |",
        f"| five points (MTCNN on the face crop) | {f['landmarks']:.1f} |",
        f"| align (fit + warp 128) | {f['align']:.2f} |",
        f"| paste, ROI + cached feathered mask | {f['paste_roi']:.2f} |",
        f"| paste, full frame (baseline) | {f['paste_full']:.1f} |",
        f"| **detect + points + align + ROI paste** | **{roi_total:.1f}** |",
        f"| same with the full-frame paste | {full_total:.1f} |",
        "",
        f"Ratios: full-frame paste / ROI paste = **{f['paste_full'] / f['paste_roi']:.1f}x**; "
        f"whole per-frame path with full-frame paste / with ROI paste = **{full_total / roi_total:.2f}x**.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.append:
        with (REPO / "bench" / "RESULTS.md").open("a", encoding="utf-8") as fh:
            fh.write("\n" + text)


if __name__ == "__main__":
    main()
