"""The bundle's `face/` component: what the live swapper needs and nothing more.

    face/face.json         format, detector, crop template, the persona's faces with pose, identities,
                           the default swapper and the live engine's settings (runtime.face.settings)
    face/detector.onnx     the YuNet face detector
    face/crops/NN.png      the curated persona faces, aligned to `crop` (template + size), best first
    face/identity_<name>.npy  the persona's mean identity embedding per recogniser (unit vector):
                           `sface` always (what face_curate measured with), `arcface` (512-d, what
                           inswapper-compatible swappers take) when the build had an ArcFace graph

No original photos, no file names: crops are numbered by rank. `FaceSet.load(folder)` reads it and
fails with FaceSetError naming the file that is missing or wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

FACE_JSON = "face.json"
FORMAT = 1


class FaceSetError(Exception):
    """The face component cannot be used; the message names the file and what to do."""


@dataclass(frozen=True)
class PersonaFace:
    image: np.ndarray  # BGR uint8, the aligned crop (FaceSet.crop_template at FaceSet.crop_size)
    points: np.ndarray  # 5 x 2, in the crop's pixels
    yaw: float
    pitch: float
    roll: float
    quality: float


@dataclass
class FaceSet:
    root: Path
    spec: dict = field(repr=False)

    @classmethod
    def load(cls, folder: str | Path) -> FaceSet:
        root = Path(folder)
        path = root / FACE_JSON
        if not path.is_file():
            raise FaceSetError(f"{path} not found: not a face component (dvc repro face_export package)")
        try:
            spec = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise FaceSetError(f"{path}: not valid JSON ({e}); rebuild it (dvc repro face_export)") from None
        if spec.get("format") != FORMAT:
            raise FaceSetError(f"{path}: format {spec.get('format')}, this runtime reads {FORMAT}; "
                               "update the runtime or rebuild the bundle")  # fmt: skip
        for key in ("detector", "crop", "faces", "identities", "live"):
            if key not in spec:
                raise FaceSetError(f"{path}: no `{key}` entry; rebuild it (dvc repro face_export)")
        if not spec["faces"]:
            raise FaceSetError(f"{path}: no persona faces (face_curate kept none: see its report.json)")
        faceset = cls(root, spec)
        for rel in [spec["detector"]["file"], *(f["file"] for f in spec["faces"])]:
            if not (root / rel).is_file():
                raise FaceSetError(f"{root / rel} missing (listed in {path}): rebuild or copy the bundle")
        return faceset

    @property
    def detector(self) -> Path:
        return self.root / self.spec["detector"]["file"]

    @property
    def crop_template(self) -> str:
        return self.spec["crop"]["template"]

    @property
    def crop_size(self) -> int:
        return int(self.spec["crop"]["size"])

    @cached_property
    def faces(self) -> list[PersonaFace]:
        """The persona's faces, best first (decoded on first use)."""
        out = []
        for f in self.spec["faces"]:
            path, n = self.root / f["file"], self.crop_size
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None or image.shape[:2] != (n, n):
                raise FaceSetError(f"{path}: unreadable or not {n}x{n}: rebuild or copy the bundle again")
            points = np.asarray(f["points"], np.float64).reshape(5, 2)
            pose = (float(f["yaw"]), float(f["pitch"]), float(f["roll"]))
            out.append(PersonaFace(image, points, *pose, float(f.get("quality", 0.0))))
        return out

    def identity(self, recogniser: str) -> np.ndarray | None:
        """The persona's unit mean embedding for `recogniser` (`sface`, `arcface`), or None."""
        entry = self.spec["identities"].get(recogniser)
        if entry is None:
            return None
        path = self.root / entry["file"]
        if not path.is_file():
            raise FaceSetError(f"{path} missing (listed in {self.root / FACE_JSON})")
        v = np.load(path).astype(np.float32).reshape(-1)
        return v / (np.linalg.norm(v) or 1.0)

    @property
    def default_swapper(self) -> str:
        return self.spec.get("default_swapper", "classic")

    @property
    def live(self) -> dict:
        """The live engine's settings as built (runtime.face.settings.LiveSettings.from_dict)."""
        return dict(self.spec["live"])
