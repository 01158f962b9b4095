"""Optional face enhancer: a GFPGAN/GPEN-compatible ONNX restorer (user-supplied, e.g. GFPGANv1.4.onnx
or GPEN-BFR-512.onnx from the FaceFusion model downloads): one input 1x3xSxS RGB in [-1, 1] on the
FFHQ-aligned crop, one output of the same layout. The engine runs it every n frames (it is slow) and
carries its correction in between."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runtime.onnx_sessions import ort_session


class FaceEnhancer:
    template = "ffhq"

    def __init__(self, model, providers=None, threads=None):
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: enhancers: GFPGANv1.4.onnx, GPEN-BFR-512.onnx "
                                    "(user-supplied, e.g. from the FaceFusion model downloads)")  # fmt: skip
        self.session = ort_session(path, threads, providers)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        shape = inputs[0].shape
        if len(inputs) != 1 or len(outputs) != 1 or len(shape) != 4 or shape[1] != 3:
            raise ValueError(f"{path}: a face enhancer takes one 1x3xSxS image and returns one")
        self.size = int(shape[2]) if isinstance(shape[2], int) else 512
        self.input = inputs[0].name

    def enhance(self, face_bgr: np.ndarray) -> np.ndarray:
        x = (face_bgr[..., ::-1].astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
        y = self.session.run(None, {self.input: np.ascontiguousarray(x)})[0][0]
        return np.ascontiguousarray(
            ((np.clip(y, -1, 1) + 1) * 127.5).astype(np.uint8).transpose(1, 2, 0)[..., ::-1]
        )
