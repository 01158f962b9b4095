"""`python -m pipelines.face_align [overrides]`: write faces.json, photos.json, embeddings.npy,
identity.json, crops/<crop>/<face id>.png, report.json and metrics.json."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pipelines import stage
from pipelines.atomic import atomic_path, write_json
from pipelines.face_align import run
from pipelines.face_align.images import list_photos


def main(argv: list[str] | None = None) -> None:
    cfg = stage.load_config("face_align", argv)
    src = Path(cfg.face_align.input)
    photos = list_photos(src) if src.is_dir() else []
    if not photos:
        raise stage.StageError(f"no photos in {src}: put the persona's photos (jpg/png/webp/heic) there")
    out = Path(cfg.face_align.output)
    with atomic_path(out) as tmp:  # one folder, replaced whole: no stale crops from earlier runs
        tmp.mkdir(parents=True)

        def save_crops(face_id: str, crops: dict) -> None:
            for name, img in crops.items():
                (tmp / "crops" / name).mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(tmp / "crops" / name / f"{face_id}.png"), img)

        result = run(cfg, photos, crop_sink=save_crops)
        np.save(tmp / "embeddings.npy", result.embeddings)
        ident = {**result.identity, "centre": result.identity["centre"].tolist()}
        write_json(tmp / "identity.json", ident)
        write_json(tmp / "faces.json", result.faces)
        write_json(tmp / "photos.json", result.photos)
        write_json(tmp / "report.json", result.report)
        write_json(tmp / "metrics.json", result.report)
    r = result.report
    stage.log.info(
        "face_align: %d photos, %d faces (%d unreadable, %d with no face); persona by %s of %d faces -> %s",
        r["photos"],
        r["faces"],
        r["unreadable"],
        r["no_face"],
        r["identity_method"],
        r["identity_members"],
        out,
    )


if __name__ == "__main__":
    stage.entrypoint(main)
