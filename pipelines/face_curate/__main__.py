"""`python -m pipelines.face_curate [overrides]`: write crops/<crop>/<rank>_<face id>.png,
identity.npy (+ identity.json), landmarks.json, report.json and metrics.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from pipelines import stage
from pipelines.atomic import atomic_path, write_json
from pipelines.face_curate import run
from runtime.face.geometry import fit_similarity, template, transform_points


def read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def crop_landmarks(face: dict, crops_cfg) -> dict:
    """The five points inside each aligned crop (what a swapper or restorer sees)."""
    pts = np.asarray(face["points"], float)
    out = {}
    for name, c in crops_cfg.items():
        m = fit_similarity(pts, template(c.template, int(c.size)))
        out[name] = {
            "matrix": np.round(m, 6).tolist(),
            "points": np.round(transform_points(m, pts), 2).tolist(),
        }
    return out


def main(argv: list[str] | None = None) -> None:
    cfg = stage.load_config("face_curate", argv)
    c = cfg.face_curate
    src = Path(c.input)
    if not (src / "faces.json").exists():
        raise stage.StageError(
            f"{src}/faces.json not found: run the face_align stage first (python -m pipelines.face_align)"
        )
    faces, photos = read_json(src / "faces.json"), read_json(src / "photos.json")
    embeddings = np.load(src / "embeddings.npy")
    hash_crop = c.hash_crop
    crops = {}
    for f in faces:
        path = src / "crops" / hash_crop / f"{f['id']}.png"
        img = cv2.imread(str(path))
        if img is None:
            raise stage.StageError(f"{path} missing or unreadable: re-run the face_align stage")
        crops[f["id"]] = img
    result = run(cfg, photos, faces, embeddings, crops)

    out = Path(c.output)
    crops_cfg = cfg.face_align.crops
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        for f in result.kept:
            for name in c.crops:
                (tmp / "crops" / name).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(
                    src / "crops" / name / f"{f['id']}.png",
                    tmp / "crops" / name / f"{f['rank']:02d}_{f['id']}.png",
                )
        np.save(tmp / "identity.npy", result.identity)
        write_json(
            tmp / "identity.json",
            {
                "embedder": read_json(src / "report.json").get("embedder"),
                "dim": int(result.identity.shape[0]),
                "faces": [f["id"] for f in result.kept],
                "embedding": np.round(result.identity, 6).tolist(),
            },
        )
        write_json(
            tmp / "landmarks.json",
            [
                {
                    "rank": f["rank"],
                    "id": f["id"],
                    "file": f["file"],
                    "box": f["box"],
                    "points": f["points"],
                    "landmarks68": f["landmarks68"],
                    "yaw": round(f["yaw"], 2),
                    "pitch": round(f["pitch"], 2),
                    "roll": round(f["roll"], 2),
                    "quality": round(f["quality"], 4),
                    "grid_cell": f["grid_cell"],
                    "crops": crop_landmarks(f, crops_cfg),
                }
                for f in result.kept
            ],
        )
        write_json(tmp / "report.json", result.report)
        write_json(tmp / "metrics.json", result.metrics)
    s = result.report["summary"]
    stage.log.info(
        "face_curate: kept %d of %d photos, %d/%d pose cells filled; rejected %s -> %s",
        s["kept"],
        s["photos"],
        s["grid_cells_filled"],
        s["grid_cells"],
        s["rejected_by_reason"],
        out,
    )


if __name__ == "__main__":
    stage.entrypoint(main)
