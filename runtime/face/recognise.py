"""ArcFace identity embeddings (the recogniser inswapper-compatible swappers expect): a user-supplied
ONNX graph such as insightface's w600k_r50.onnx, on the ArcFace-aligned 112 crop (insightface's
preprocessing: RGB, (x - 127.5) / 127.5, NCHW). Used by face_export to store the persona's identity
and by the runtime when a bundle lacks it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runtime.face.geometry import arcface_template, fit_similarity, warp_face
from runtime.onnx_sessions import ort_session

WHERE = "w600k_r50.onnx (ArcFace) from insightface's buffalo_l pack, or FaceFusion's arcface_w600k_r50.onnx"


class ArcFaceRecogniser:
    """ArcFace embeddings (unit vectors) of faces, from an ONNX graph taking 1x3xSxS (S usually 112)."""

    def __init__(self, model, providers=None, threads=None):
        path = Path(model)
        self.session = ort_session(path, threads, providers, where=f"the ArcFace recogniser is {WHERE}")
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        shape = list(inputs[0].shape)
        if len(inputs) != 1 or len(shape) != 4 or shape[1] != 3 or not isinstance(shape[2], int):
            raise ValueError(f"{path}: input {shape}: an ArcFace recogniser takes one 1x3xSxS image")
        out = list(outputs[0].shape) if len(outputs) == 1 else []
        if not out or out[-1] != 512:
            raise ValueError(
                f"{path}: output {out or len(outputs)}: an ArcFace recogniser returns 512 values"
            )
        self.size, self.input = int(shape[2]), inputs[0].name

    def embed(self, crop_bgr: np.ndarray) -> np.ndarray:
        """Unit embedding of an ArcFace-aligned crop (size x size BGR uint8)."""
        if crop_bgr.shape != (self.size, self.size, 3):
            raise ValueError(f"ArcFace takes a {self.size}x{self.size} BGR crop, got {crop_bgr.shape}")
        x = ((crop_bgr[..., ::-1].astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)[None]
        e = np.asarray(self.session.run(None, {self.input: np.ascontiguousarray(x)})[0], np.float32).ravel()
        return e / (np.linalg.norm(e) or 1.0)

    def embed_aligned(self, image_bgr: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Unit embedding of the face at `points` in `image_bgr` (aligned here first)."""
        m = fit_similarity(points, arcface_template(self.size))
        return self.embed(warp_face(image_bgr, m, self.size))


def mean_identity(embeddings) -> np.ndarray:
    """The unit mean of unit embeddings: the one source identity one-shot swappers take."""
    v = np.mean(np.asarray(embeddings, np.float32), axis=0)
    return (v / (np.linalg.norm(v) or 1.0)).astype(np.float32)
