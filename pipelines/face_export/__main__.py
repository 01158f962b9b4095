"""`python -m pipelines.face_export [overrides]`: write the face component (see the package docstring)
and, when the demo camera clip is there, check it through the live engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipelines import stage
from pipelines.atomic import atomic_path
from pipelines.face_align.detectors import yunet_model_file
from pipelines.face_export import CHECK, check, recogniser_file, run


def read_json(path: Path):
    if not path.is_file():
        raise stage.StageError(
            f"{path} not found: run the face_curate stage first (python -m pipelines.face_curate)"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> None:
    cfg = stage.load_config("face_export", argv)
    c = cfg.face_export
    src = Path(c.input)
    landmarks = read_json(src / "landmarks.json")
    summary = read_json(src / "report.json")["summary"]
    identity = np.load(src / "identity.npy")
    detector = yunet_model_file(cfg.face_align.detectors.yunet_mtcnn.yunet_model)
    recogniser = recogniser_file(cfg)
    with atomic_path(c.output) as out:
        out.mkdir(parents=True)
        spec = run(cfg, landmarks, identity, summary, src, detector, out, recogniser)
        report = check(cfg, out)
    stage.log.info(
        "face_export: %d faces (%s %d), identities %s, default swapper %s%s -> %s",
        len(spec["faces"]),
        spec["crop"]["template"],
        spec["crop"]["size"],
        ", ".join(spec["identities"]),
        spec["default_swapper"],
        "" if report is None else f", check: {CHECK}/converted.mp4",
        c.output,
    )


if __name__ == "__main__":
    stage.entrypoint(main)
