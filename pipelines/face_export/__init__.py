"""Stage `face_export`: the curated face set -> the face component the runtime loads.

    python -m pipelines.face_export [paths.data=DIR] [face_export.recogniser=~/models/w600k_r50.onnx]

Writes `${paths.models}/face_export/` in the layout runtime/face/faceset.py reads:
- `face.json`: format, detector, the crop template and size, the persona's faces best first (crop file,
  five points in the crop's pixels, yaw/pitch/roll, quality, pose-grid cell), the pose grid, the
  identity embeddings, the default swapper and the live engine's settings (conf/face_export `live`,
  validated by runtime.face.settings.LiveSettings);
- `detector.onnx`: the YuNet graph face_align detected with;
- `crops/NN.png`: the kept faces' `face_export.crop` crops, numbered by rank;
- `identity_sface.npy`: face_curate's mean SFace identity (128-d);
- `identity_arcface.npy` (512-d) when `face_export.recogniser` names an ArcFace ONNX graph: each kept
  face re-aligned to the ArcFace 112 template from its crop points, embedded, averaged, normalised;
- `check/converted.mp4` + `check/converted.json` (its report): the demo camera clip through the live engine
  (runtime.face.live.convert_file), when `face_export.check.camera` exists.

Nothing names an original photo: face_curate's landmarks carry photo file names, the component
does not.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
from omegaconf import DictConfig, OmegaConf

from pipelines.atomic import write_json
from pipelines.stage import StageError
from runtime.face.faceset import FACE_JSON, FORMAT, FaceSet, FaceSetError
from runtime.face.geometry import arcface_template, fit_similarity, warp_face
from runtime.face.settings import LiveSettings

log = logging.getLogger("still.face_export")

DETECTOR = "detector.onnx"
CROPS = "crops"
CHECK = "check"
ARCFACE_SOURCE = (
    "an ArcFace ONNX graph (112x112 input, 512-d output), e.g. w600k_r50.onnx from insightface's "
    "buffalo_l pack (https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip; "
    "non-commercial research licence)"
)


def live_settings(cfg: DictConfig) -> LiveSettings:
    """conf/face_export `live`, checked by the runtime's own parser."""
    try:
        return LiveSettings.from_dict(OmegaConf.to_container(cfg.face_export.live, resolve=True))
    except (TypeError, ValueError) as e:
        raise StageError(f"face_export.live: {e}") from e


def recogniser_file(cfg: DictConfig) -> Path | None:
    """The configured ArcFace graph, None when not configured; StageError when it is missing."""
    configured = cfg.face_export.recogniser
    if not configured:
        return None
    path = Path(str(configured)).expanduser()
    if not path.is_file():
        raise StageError(
            f"face_export.recogniser={configured}: file not found. It is {ARCFACE_SOURCE}; "
            "download it yourself, or set face_export.recogniser=null to ship the SFace identity only"
        )
    return path


def kept_faces(landmarks: list[dict], crop: str, src: Path) -> list[dict]:
    """face_curate's kept faces with their `crop` image path, best first; StageError when it kept none."""
    if not landmarks:
        raise StageError(
            f"face_curate kept no faces ({src}/landmarks.json is empty): see why each photo was rejected "
            f"in {src}/report.json, add clearer photos of the persona, then dvc repro face_curate"
        )
    out = []
    for row in sorted(landmarks, key=lambda r: r["rank"]):
        if crop not in row["crops"]:
            raise StageError(f"face_export.crop={crop}: face_curate wrote {sorted(row['crops'])} "
                             "(face_align.crops); choose one of them")  # fmt: skip
        image = src / CROPS / crop / f"{row['rank']:02d}_{row['id']}.png"
        if not image.is_file():
            raise StageError(f"{image} missing: add {crop} to face_curate.crops and re-run face_curate")
        out.append({**row, "image": image})
    return out


def arcface_identity(recogniser: Path, crops: list[np.ndarray], points: list[np.ndarray]) -> np.ndarray:
    """The unit mean ArcFace embedding of the faces, each re-aligned to the ArcFace 112 template."""
    from runtime.face.recognise import ArcFaceRecogniser, mean_identity

    model = ArcFaceRecogniser(recogniser)
    tpl = arcface_template(112)
    embeddings = [
        model.embed(warp_face(c, fit_similarity(p, tpl), 112)) for c, p in zip(crops, points, strict=True)
    ]
    return np.asarray(mean_identity(embeddings), np.float32)


def run(
    cfg: DictConfig,
    landmarks: list[dict],
    identity_sface: np.ndarray,
    curate_summary: dict,
    src: Path,
    detector: Path,
    out: Path,
    recogniser: Path | None = None,
) -> dict:
    """Write the face component into the (empty) folder `out` from face_curate's outputs; returns
    the face.json spec, read back by the runtime's FaceSet loader."""
    c = cfg.face_export
    crop_cfg = cfg.face_align.crops.get(c.crop)
    if crop_cfg is None:
        raise StageError(
            f"face_export.crop={c.crop} is not one of face_align.crops {sorted(cfg.face_align.crops)}"
        )
    faces = kept_faces(landmarks, str(c.crop), src)
    settings = live_settings(cfg)

    shutil.copyfile(detector, out / DETECTOR)
    (out / CROPS).mkdir()
    images, points, entries = [], [], []
    for f in faces:
        rel = f"{CROPS}/{f['rank']:02d}.png"
        image = cv2.imread(str(f["image"]), cv2.IMREAD_COLOR)
        if image is None or image.shape[:2] != (int(crop_cfg.size),) * 2:
            raise StageError(
                f"{f['image']}: unreadable or not {crop_cfg.size}x{crop_cfg.size}: re-run face_curate"
            )
        # re-encoded rather than copied: the component carries pixels only, never a source's metadata
        cv2.imwrite(str(out / rel), image)
        pts = np.asarray(f["crops"][c.crop]["points"], np.float64)
        images.append(image)
        points.append(pts)
        entries.append(
            {
                "file": rel,
                "rank": f["rank"],
                "points": np.round(pts, 2).tolist(),
                "yaw": f["yaw"],
                "pitch": f["pitch"],
                "roll": f["roll"],
                "quality": f["quality"],
                "grid_cell": list(f["grid_cell"]),
            }
        )

    identity_sface = np.asarray(identity_sface, np.float32).reshape(-1)
    np.save(out / "identity_sface.npy", identity_sface)
    identities = {"sface": {"file": "identity_sface.npy", "dim": int(identity_sface.shape[0])}}
    if recogniser is not None:
        arcface = arcface_identity(recogniser, images, points)
        np.save(out / "identity_arcface.npy", arcface)
        identities["arcface"] = {"file": "identity_arcface.npy", "dim": int(arcface.shape[0]),
                                 "recogniser": recogniser.name}  # fmt: skip

    spec = {
        "format": FORMAT,
        "detector": {"file": DETECTOR, "kind": "yunet"},
        "crop": {"name": str(c.crop), "template": str(crop_cfg.template), "size": int(crop_cfg.size)},
        "faces": entries,
        "grid": {
            "yaw_edges": list(curate_summary["yaw_edges"]),
            "pitch_edges": list(curate_summary["pitch_edges"]),
        },
        "identities": identities,
        "default_swapper": str(c.swapper),
        "live": settings.to_dict(),
    }
    write_json(out / FACE_JSON, spec)
    try:
        _ = FaceSet.load(out).faces  # the runtime's own reader must take it (and decode every crop)
    except FaceSetError as e:
        raise StageError(f"the written face component does not load: {e}") from e
    return spec


def check(cfg: DictConfig, component: Path) -> dict | None:
    """The demo camera clip through the live engine into `component`/check/ (converted.mp4 and its
    report, converted.json); None when no camera clip is configured or it is missing."""
    k = cfg.face_export.check
    if not k.camera:
        log.info("face_export: no check (face_export.check.camera=null)")
        return None
    camera = Path(str(k.camera))
    if not camera.is_file():
        log.warning("face_export: no check: camera clip %s not found (run demo_data, or set "
                    "face_export.check.camera=FILE / null)", camera)  # fmt: skip
        return None
    from runtime.face.live import convert_file

    log.info("face_export: check: %s through the live engine", camera)
    (component / CHECK).mkdir(exist_ok=True)
    swapper = str(k.swapper) if k.swapper else None  # None: the component's default swapper
    return convert_file(camera, component / CHECK / "converted.mp4", component, live_settings(cfg), swapper,
                        bool(k.disclosure))  # fmt: skip
