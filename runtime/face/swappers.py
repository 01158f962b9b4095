"""Face swappers behind one small interface, chosen by name (`build_swapper`).

    swapper.template, swapper.size       the crop the engine aligns the live face to
    face, mask = swapper.swap(crop, points)   crop: BGR uint8 size x size, points: 5 x 2 in it;
                                               face: BGR uint8, mask: float32 0..1 (where it is valid)

The engine feathers, colour-corrects and pastes; a swapper only swaps.

- `classic` (the offline default, no downloaded weights): a classic landmark swap, not a neural one.
  The persona photo whose head pose (yaw, pitch) is nearest the caller's is warped onto the caller's
  five points by a similarity transform; the engine matches its colour and blends it in. Dense
  landmarks would let it follow expressions; none install offline here (mediapipe 1.2.2 ships no
  face-mesh model files, its tasks API downloads them, and it pulls opencv-contrib-python), so it
  uses the five points: the persona's face turns and moves with the caller, its expression is the
  photo's.
- `inswapper`: an inswapper_128-compatible ONNX graph (the one-shot swapper of Rope, Deep-Live-Cam,
  FaceFusion): target 1x3x128x128 RGB [0,1] + source latent 1x512 (the persona's ArcFace identity
  times the graph's `emap`) -> 1x3x128x128 RGB [0,1]. User-supplied file (non-commercial licence).
- `dfm`: DeepFaceLive models (ONNX, trained per person with DeepFaceLab): in_face:0 NHWC BGR [0,1]
  (+ optional morph_value:0) -> out_face_mask:0, out_celeb_face:0, out_celeb_face_mask:0. DeepFaceLab
  aligns its WHOLE_FACE crop from 68 landmarks; with five points the FFHQ template stands in for it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from runtime.face.blend import face_region_mask
from runtime.face.faceset import FaceSet, FaceSetError
from runtime.face.geometry import fit_similarity, pose
from runtime.onnx_sessions import ort_session

INSWAPPER_HELP = ("inswapper_128.onnx: from the insightface model zoo, or the Deep-Live-Cam / FaceFusion "
                  "model downloads (non-commercial research licence)")  # fmt: skip
RECOGNISER_HELP = "w600k_r50.onnx (ArcFace) from insightface's buffalo_l pack"
DFM_HELP = "a DeepFaceLive .dfm face model (its public models, or one trained with DeepFaceLab)"


def _need_file(path, what: str, where: str) -> Path:
    if path is None:
        raise FileNotFoundError(f"the {what} swapper needs --swapper-model PATH: {where}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {where}")
    return path


class ClassicSwapper:
    """The pose-matched persona photo warped onto the caller's five points (see module docstring)."""

    name, template = "classic", "ffhq"

    def __init__(self, faceset: FaceSet, size: int = 256, hysteresis_deg: float = 5.0):
        self.size, self.hysteresis = int(size), float(hysteresis_deg)
        f = self.size / faceset.crop_size
        self.faces = [
            (
                cv2.resize(p.image, (self.size, self.size), interpolation=cv2.INTER_AREA),
                p.points * f,
                p.yaw,
                p.pitch,
            )
            for p in faceset.faces
        ]
        self.current: int | None = None

    def choose(self, yaw: float, pitch: float) -> int:
        """The persona face nearest in pose; the current one stays unless another is clearly nearer."""
        dist = [np.hypot(yaw - fy, pitch - fp) for _, _, fy, fp in self.faces]
        best = int(np.argmin(dist))
        if self.current is not None and dist[self.current] <= dist[best] + self.hysteresis:
            return self.current
        self.current = best
        return best

    def swap(self, face: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = pose(points)
        image, src_points, _, _ = self.faces[self.choose(p["yaw"], p["pitch"])]
        m = fit_similarity(src_points, points)
        size = (self.size, self.size)
        warped = cv2.warpAffine(image, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        valid = cv2.warpAffine(np.ones((self.size, self.size), np.float32), m, size, borderValue=0)
        return warped, face_region_mask(self.size, points) * valid


def read_emap(model: Path) -> np.ndarray:
    """inswapper's 512x512 identity projection, stored in the graph as an initializer."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(model), load_external_data=False).graph
    named = [i for i in graph.initializer if i.name == "emap"]
    square = [i for i in graph.initializer if list(i.dims) == [512, 512]]
    found = named or square[-1:]
    if not found:
        raise ValueError(f"{model}: no 512x512 `emap` initializer: not an inswapper_128-compatible graph")
    return numpy_helper.to_array(found[0]).astype(np.float32)


class InswapperSwapper:
    name, template = "inswapper", "arcface"

    def __init__(self, model, identity: np.ndarray, providers=None, threads=None):
        model = _need_file(model, "inswapper", INSWAPPER_HELP)
        self.session = ort_session(model, threads, providers)
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        if set(inputs) != {"target", "source"} or len(self.session.get_outputs()) != 1:
            raise ValueError(
                f"{model}: inputs {sorted(inputs)}, an inswapper graph takes `target` and `source`"
            )
        shape = inputs["target"]
        self.size = int(shape[2]) if isinstance(shape[2], int) else 128
        latent = np.asarray(identity, np.float32).reshape(1, -1) @ read_emap(model)
        self.latent = (latent / (np.linalg.norm(latent) or 1.0)).astype(np.float32)

    def swap(self, face: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = (face[..., ::-1].astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        y = self.session.run(None, {"target": np.ascontiguousarray(x), "source": self.latent})[0][0]
        out = (np.clip(y.transpose(1, 2, 0), 0, 1) * 255).astype(np.uint8)[..., ::-1]
        return np.ascontiguousarray(out), face_region_mask(self.size, points)


class DFMSwapper:
    name, template = "dfm", "ffhq"
    OUTPUTS = ("out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0")

    def __init__(self, model, morph: float = 0.75, providers=None, threads=None):
        model = _need_file(model, "dfm", DFM_HELP)
        self.session = ort_session(model, threads, providers)
        inputs = self.session.get_inputs()
        outputs = {o.name for o in self.session.get_outputs()}
        if not inputs or inputs[0].name != "in_face:0" or not set(self.OUTPUTS) <= outputs:
            raise ValueError(
                f"{model}: not a DeepFaceLive model (wants in_face:0 -> {', '.join(self.OUTPUTS)})"
            )
        shape = inputs[0].shape
        self.size = int(shape[1]) if isinstance(shape[1], int) else 224
        self.morph = (
            {"morph_value:0": np.array([morph], np.float32)}
            if len(inputs) > 1 and inputs[1].name == "morph_value:0"
            else {}
        )

    def swap(self, face: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = (face.astype(np.float32) / 255.0)[None]
        dst_mask, celeb, celeb_mask = self.session.run(list(self.OUTPUTS), {"in_face:0": x, **self.morph})
        out = (np.clip(celeb[0], 0, 1) * 255).astype(np.uint8)
        mask = np.clip(dst_mask[0, ..., 0] * celeb_mask[0, ..., 0], 0, 1).astype(np.float32)
        return out, mask


SWAPPERS = {"classic": ClassicSwapper, "inswapper": InswapperSwapper, "dfm": DFMSwapper}


def build_swapper(name: str, faceset: FaceSet, model=None, providers=None, threads=None, recogniser=None):
    """The swapper `name` for the persona in `faceset`; errors say which file is missing and where
    users get it."""
    if name not in SWAPPERS:
        raise ValueError(f"unknown swapper {name!r}: choose one of {sorted(SWAPPERS)}")
    if name == "classic":
        return ClassicSwapper(faceset)
    if name == "dfm":
        return DFMSwapper(model, providers=providers, threads=threads)
    identity = faceset.identity("arcface")
    if identity is None:
        if recogniser is None:
            raise FaceSetError(
                "this bundle has no ArcFace identity for inswapper: rebuild it with face_export.recogniser "
                f"set, or pass --recogniser PATH ({RECOGNISER_HELP})"
            )
        from runtime.face.recognise import ArcFaceRecogniser, mean_identity

        rec = ArcFaceRecogniser(recogniser, providers, threads)
        identity = mean_identity([rec.embed_aligned(p.image, p.points) for p in faceset.faces])
    return InswapperSwapper(model, identity, providers, threads)
