"""Optional face enhancer: a GFPGAN/GPEN-compatible ONNX restorer (user-supplied, e.g. GFPGANv1.4.onnx
or GPEN-BFR-512.onnx from the FaceFusion model downloads): one input 1x3xSxS RGB in [-1, 1] on the
FFHQ-aligned crop (S usually 512; GPEN also 256 or 1024), one output of the same layout. The engine
runs it every n frames (it is slow) and carries its correction in between."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runtime.onnx_sessions import ort_session

WHERE = "GFPGANv1.4.onnx or GPEN-BFR-512.onnx, user-supplied; e.g. from the FaceFusion model downloads"


class FaceEnhancer:
    """A face restorer on FFHQ-aligned S x S crops."""

    name, template = "enhancer", "ffhq"

    def __init__(self, model, providers=None, threads=None):
        path = Path(model)
        self.session = ort_session(path, threads, providers, where=f"a face enhancer is {WHERE}")
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        shape = list(inputs[0].shape)
        out = list(outputs[0].shape) if len(outputs) == 1 else []
        square = len(shape) == 4 and shape[1] == 3 and isinstance(shape[2], int) and shape[2] == shape[3]
        # Some exports leave the output's height and width symbolic: accept those.
        same = (
            len(out) == 4
            and out[1] == 3
            and all(o == i or not isinstance(o, int) for o, i in zip(out[2:], shape[2:], strict=True))
        )
        if len(inputs) != 1 or not square or not same:
            raise ValueError(
                f"{path}: input {shape}, output {out or len(outputs)}: a face enhancer "
                "(GFPGAN/GPEN) takes one 1x3xSxS image and returns one of the same size"
            )
        self.size, self.input = int(shape[2]), inputs[0].name

    def enhance(self, face_bgr: np.ndarray) -> np.ndarray:
        """The restored face (BGR uint8 S x S) of an FFHQ-aligned BGR uint8 S x S crop."""
        if face_bgr.shape != (self.size, self.size, 3):
            raise ValueError(f"the enhancer takes a {self.size}x{self.size} BGR crop, got {face_bgr.shape}")
        x = (face_bgr[..., ::-1].astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
        y = self.session.run(None, {self.input: np.ascontiguousarray(x)})[0][0]
        out = ((np.clip(y, -1, 1) + 1) * 127.5 + 0.5).astype(np.uint8)
        return np.ascontiguousarray(out.transpose(1, 2, 0)[..., ::-1])
