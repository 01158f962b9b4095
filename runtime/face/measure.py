"""Measurements of an aligned ArcFace crop that the photo pipeline and the live path share: the face
region, exposure of the face, and how much of the lower face is covered."""

from __future__ import annotations

import cv2
import numpy as np


def face_mask(size: int) -> np.ndarray:
    """An ellipse over the face in an ArcFace crop (cheeks to chin), excluding most background."""
    m = np.zeros((size, size), np.uint8)
    cv2.ellipse(m, (size // 2, int(size * 0.55)), (int(size * 0.34), int(size * 0.44)), 0, 0, 360, 1, -1)
    return m.astype(bool)


def face_luma(crop: np.ndarray) -> float:
    """Mean luma (0-255) of the face region of an aligned crop."""
    g = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    return float(g[face_mask(g.shape[0])].mean())


# Regions of an ArcFace 112 crop (x0, y0, x1, y1), scaled for other sizes: skin under each eye and
# on the forehead (the reference), and nose-to-chin (where hands, masks and cups cover a face).
_SKIN = ((30, 58, 42, 66), (70, 58, 82, 66), (46, 22, 66, 32))
_LOWER = (38, 66, 74, 100)


def occlusion(crop: np.ndarray, tolerance: float = 12.0) -> float:
    """Share of the nose-to-chin region whose colour (Cr, Cb) is unlike the skin under the eyes and
    on the forehead: near 0 for an open face, near 1 under a mask or hand of another colour.
    A heuristic: grayscale photos and skin-coloured occluders read as open (0)."""
    f = crop.shape[0] / 112.0
    ch = cv2.cvtColor(crop, cv2.COLOR_BGR2YCrCb)[..., 1:].astype(np.float32)

    def region(r):
        x0, y0, x1, y1 = (round(v * f) for v in r)
        return ch[y0:y1, x0:x1].reshape(-1, 2)

    ref = np.median(np.concatenate([region(r) for r in _SKIN]), axis=0)
    return float((np.linalg.norm(region(_LOWER) - ref, axis=1) > tolerance).mean())
