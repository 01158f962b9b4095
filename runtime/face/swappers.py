"""Face swappers behind one small interface (`Swapper`), chosen by name (`build_swapper`).

    swapper = build_swapper("classic", faceset)          # or "inswapper" / "dfm" with model=PATH
    crop = warp_face(frame, fit_similarity(points, template(swapper.template, swapper.size)), swapper.size)
    face, mask = swapper.swap(crop, points_in_crop)       # BGR uint8 size x size, float32 0..1

The engine aligns, feathers, colour-corrects (`blend.match_colour`) and pastes; a swapper only swaps.

- `classic` (the offline default, no downloaded weights): a classic landmark swap, not a neural one.
  The persona photo whose head pose (yaw, pitch) is nearest the caller's is warped onto the caller's
  five points by a similarity transform. The persona's face turns and moves with the caller; its
  expression is the photo's. Dense landmarks would let it follow expressions, but none install
  offline here (mediapipe 1.2.2 ships no face-mesh model files, its tasks API downloads them, and it
  pulls opencv-contrib-python), so it uses the five points.
- `inswapper`: an inswapper_128-compatible ONNX graph (the one-shot swapper of Rope, Deep-Live-Cam,
  FaceFusion): target 1x3x128x128 RGB [0,1] + source 1x512 (the persona's ArcFace identity times the
  graph's `emap`, normalised) -> 1x3x128x128 RGB [0,1]. User-supplied (non-commercial licence).
- `dfm`: DeepFaceLive models (ONNX, trained per person with DeepFaceLab): in_face:0 NHWC BGR [0,1]
  (+ optional morph_value:0) -> out_face_mask:0, out_celeb_face:0, out_celeb_face_mask:0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from runtime.face.blend import face_region_mask
from runtime.face.faceset import FaceSet, FaceSetError
from runtime.face.geometry import fit_similarity, pose
from runtime.onnx_sessions import ort_session

INSWAPPER_HELP = ("inswapper_128.onnx: from the insightface model zoo / the Deep-Live-Cam or FaceFusion "
                  "model downloads; non-commercial research licence")  # fmt: skip
RECOGNISER_HELP = "w600k_r50.onnx (ArcFace) from insightface's buffalo_l pack"
DFM_HELP = "DeepFaceLive's public face models, or one trained with DeepFaceLab"


class Swapper(Protocol):
    """What the live engine needs from a swapper."""

    name: str
    template: str  # 'arcface' or 'ffhq': the crop the engine aligns the live face to
    size: int

    def swap(self, face: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(swapped face BGR uint8 size x size, float32 mask in [0, 1] where it is valid) for the live
        `face` crop and its five `points` in the crop's pixels."""
        ...


def _fixed(dim, model: Path, what: str) -> int:
    """A graph dimension that must be a number (ONNX leaves dynamic ones as names or None)."""
    if not isinstance(dim, int) or dim <= 0:
        raise ValueError(f"{model}: the {what} is dynamic ({dim!r}); export the graph with a fixed size")
    return dim


class ClassicSwapper:
    """The pose-matched persona photo warped onto the caller's five points (see the module docstring)."""

    name, template = "classic", "ffhq"

    def __init__(self, faceset: FaceSet, size: int = 256, hysteresis_deg: float = 5.0):
        self.size, self.hysteresis = int(size), float(hysteresis_deg)
        f = self.size / faceset.crop_size
        # Resized once here so each call warps only once.
        interp = cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC
        self.images = [
            cv2.resize(p.image, (self.size, self.size), interpolation=interp) for p in faceset.faces
        ]
        self.points = [p.points * f for p in faceset.faces]
        self.poses = np.array([(p.yaw, p.pitch) for p in faceset.faces], np.float64)
        self.current: int | None = None
        self._ones = np.ones((self.size, self.size), np.float32)

    @classmethod
    def from_faceset(cls, faceset: FaceSet, model=None, providers=None, threads=None, recogniser=None):
        return cls(faceset)  # no model file: the persona's own photos

    def choose(self, yaw: float, pitch: float) -> int:
        """The persona face nearest in (yaw, pitch); the current one stays unless another is nearer by
        more than the hysteresis margin, so a caller between two poses does not make them flicker."""
        dist = np.hypot(self.poses[:, 0] - yaw, self.poses[:, 1] - pitch)
        best = int(np.argmin(dist))
        if self.current is None or dist[best] + self.hysteresis < dist[self.current]:
            self.current = best
        return self.current

    def swap(self, face: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = pose(points)
        i = self.choose(p["yaw"], p["pitch"])
        m = fit_similarity(self.points[i], points)
        size = (self.size, self.size)
        warped = cv2.warpAffine(
            self.images[i], m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        valid = cv2.warpAffine(self._ones, m, size, flags=cv2.INTER_LINEAR, borderValue=0)
        return warped, face_region_mask(self.size, points) * valid


def read_emap(model: Path) -> np.ndarray:
    """inswapper's 512x512 identity projection, an initializer of the graph: the one named `emap`,
    else the last 512x512 one."""
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
    """An inswapper_128-compatible one-shot swapper for the persona's ArcFace `identity`."""

    name, template = "inswapper", "arcface"

    def __init__(self, model, identity: np.ndarray, providers=None, threads=None):
        model = _need_file(model, "inswapper", INSWAPPER_HELP)
        self.session = ort_session(model, threads, providers)
        inputs = {i.name: list(i.shape) for i in self.session.get_inputs()}
        outputs = self.session.get_outputs()
        target, source = inputs.get("target"), inputs.get("source")
        if set(inputs) != {"target", "source"} or len(outputs) != 1:
            raise ValueError(
                f"{model}: inputs {sorted(inputs)}, outputs {len(outputs)}: an inswapper graph "
                "takes `target` (1x3xSxS) and `source` (1x512) and returns one image"
            )
        if len(target) != 4 or target[1] != 3 or source[-1] != 512:
            raise ValueError(f"{model}: target {target}, source {source}: wants 1x3xSxS and 1x512")
        self.size = _fixed(target[2], model, "target size")
        identity = np.asarray(identity, np.float32).reshape(-1)
        if identity.shape != (512,):
            raise ValueError(f"inswapper takes a 512-d ArcFace identity, got {identity.shape[0]} values")
        latent = identity.reshape(1, 512) @ read_emap(model)
        self.latent = (latent / (np.linalg.norm(latent) or 1.0)).astype(np.float32)

    @classmethod
    def from_faceset(cls, faceset: FaceSet, model=None, providers=None, threads=None, recogniser=None):
        """For the bundle's ArcFace identity, or one computed now from its crops with `recogniser`."""
        model = _need_file(model, "inswapper", INSWAPPER_HELP)  # before any slow work on the identity
        identity = faceset.identity("arcface")
        if identity is None:
            if recogniser is None:
                raise FaceSetError(
                    f"{faceset.root}: no ArcFace identity for inswapper: rebuild the bundle with "
                    f"face_export.recogniser set, or pass --recogniser PATH ({RECOGNISER_HELP})"
                )
            identity = arcface_identity(faceset, recogniser, providers, threads)
        return cls(model, identity, providers, threads)

    def swap(self, face: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = (face[..., ::-1].astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        y = self.session.run(None, {"target": np.ascontiguousarray(x), "source": self.latent})[0][0]
        out = (np.clip(y.transpose(1, 2, 0), 0, 1) * 255 + 0.5).astype(np.uint8)[..., ::-1]
        # The graph repaints the whole crop; only the face region is the persona's.
        return np.ascontiguousarray(out), face_region_mask(self.size, points)


class DFMSwapper:
    """A DeepFaceLive .dfm model. DeepFaceLab aligns its WHOLE_FACE crop from 68 landmarks; with five
    points the 'ffhq' template at the model's resolution stands in for it (an approximation: faces
    sit a little differently in the crop than in training)."""

    name, template = "dfm", "ffhq"
    FACE, MORPH = "in_face:0", "morph_value:0"
    OUTPUTS = ("out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0")

    def __init__(self, model, morph: float = 0.75, providers=None, threads=None):
        model = _need_file(model, "dfm", DFM_HELP, flag="--swapper-model FILE.dfm")
        self.session = ort_session(model, threads, providers)
        inputs = {i.name: list(i.shape) for i in self.session.get_inputs()}
        outputs = {o.name for o in self.session.get_outputs()}
        face = inputs.get(self.FACE)
        if face is None or len(face) != 4 or face[3] != 3 or not set(self.OUTPUTS) <= outputs:
            wants = f"{self.FACE} (1,H,W,3) -> {', '.join(self.OUTPUTS)}"
            raise ValueError(f"{model}: inputs {sorted(inputs)}, outputs {sorted(outputs)}: "
                             f"not a DeepFaceLive model (wants {wants})")  # fmt: skip
        self.size = _fixed(face[1], model, "face resolution")
        if face[2] != face[1]:
            raise ValueError(f"{model}: a {face[1]}x{face[2]} face input; DeepFaceLive models are square")
        self.morph = float(morph)
        self._extra = {self.MORPH: np.array([self.morph], np.float32)} if self.MORPH in inputs else {}

    @classmethod
    def from_faceset(cls, faceset: FaceSet, model=None, providers=None, threads=None, recogniser=None):
        return cls(model, providers=providers, threads=threads)  # the persona is in the model itself

    def swap(self, face: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = (face.astype(np.float32) / 255.0)[None]
        face_mask, celeb, celeb_mask = self.session.run(list(self.OUTPUTS), {self.FACE: x, **self._extra})
        out = (np.clip(celeb[0], 0, 1) * 255 + 0.5).astype(np.uint8)
        mask = np.clip(face_mask[0, ..., 0] * celeb_mask[0, ..., 0], 0, 1).astype(np.float32)
        return out, mask


SWAPPERS: dict[str, type] = {"classic": ClassicSwapper, "inswapper": InswapperSwapper, "dfm": DFMSwapper}


def _need_file(path, what: str, where: str, flag: str = "--swapper-model PATH") -> Path:
    if path is None:
        raise FileNotFoundError(f"the {what} swapper needs a model file: pass {flag} ({where})")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {where}")
    return path


def arcface_identity(faceset: FaceSet, recogniser, providers=None, threads=None) -> np.ndarray:
    """The persona's unit mean ArcFace embedding, from the face set's crops re-aligned to ArcFace."""
    from runtime.face.recognise import ArcFaceRecogniser, mean_identity

    rec = ArcFaceRecogniser(recogniser, providers, threads)
    return mean_identity([rec.embed_aligned(p.image, p.points) for p in faceset.faces])


def build_swapper(
    name: str, faceset: FaceSet, model=None, providers=None, threads=None, recogniser=None
) -> Swapper:
    """The swapper `name` for the persona in `faceset`; errors say which file is missing and where
    users get it. `recogniser` (an ArcFace graph) fills in an inswapper identity the bundle lacks."""
    if name not in SWAPPERS:
        raise ValueError(f"unknown swapper {name!r}: choose one of {', '.join(SWAPPERS)}")
    return SWAPPERS[name].from_faceset(faceset, model, providers, threads, recogniser)
