"""Compositing helpers for swapped faces (numpy + cv2): where the face is, where the mouth is, and
colour transfer so the persona's face takes the live frame's light."""

from __future__ import annotations

import cv2
import numpy as np


def face_region_mask(size: int, points: np.ndarray, feather: float = 0.04) -> np.ndarray:
    """A float32 mask of the face (brows to chin, cheek to cheek) in a `size` crop, from its five
    points: an ellipse around eyes and mouth, its edge feathered by `feather` of the crop."""
    p = np.asarray(points, np.float64).reshape(5, 2)
    eyes, mouth = p[:2].mean(0), p[3:].mean(0)
    iod = max(np.hypot(*(p[1] - p[0])), 1e-6)
    down = mouth - eyes
    height = max(np.hypot(*down), 1e-6)
    angle = np.degrees(np.arctan2(p[1, 1] - p[0, 1], p[1, 0] - p[0, 0]))
    centre = eyes + down * 0.45  # between brows and chin
    axes = (1.05 * iod, 1.55 * height)  # half width (cheeks), half height (brows to chin)
    mask = np.zeros((size, size), np.float32)
    cv2.ellipse(mask, (round(centre[0]), round(centre[1])), (round(axes[0]), round(axes[1])), angle, 0, 360,
                1.0, -1, cv2.LINE_AA)  # fmt: skip
    k = max(1.0, feather * size)
    return np.clip(cv2.GaussianBlur(mask, (0, 0), k), 0.0, 1.0)


def mouth_mask(size: int, points: np.ndarray, feather: float = 0.03) -> np.ndarray:
    """1 where the caller's own mouth is kept: an ellipse around the mouth corners, feathered."""
    p = np.asarray(points, np.float64).reshape(5, 2)
    centre = p[3:].mean(0)
    width = max(np.hypot(*(p[4] - p[3])), 1e-6)
    angle = np.degrees(np.arctan2(p[4, 1] - p[3, 1], p[4, 0] - p[3, 0]))
    mask = np.zeros((size, size), np.float32)
    cv2.ellipse(mask, (round(centre[0]), round(centre[1])), (round(0.75 * width), round(0.45 * width)), angle,
                0, 360, 1.0, -1, cv2.LINE_AA)  # fmt: skip
    return np.clip(cv2.GaussianBlur(mask, (0, 0), max(1.0, feather * size)), 0.0, 1.0)


def match_colour(src: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`src` (BGR uint8) with the mean and spread of each LAB channel moved to `ref`'s, both measured
    where `mask` > 0.5 (on a 64-px copy: statistics need no more). `src` unchanged if the mask is empty."""
    small = 64 / max(src.shape[:2])
    shrink = (max(1, round(src.shape[1] * small)), max(1, round(src.shape[0] * small)))

    def stats(img):
        lab = cv2.cvtColor(cv2.resize(img, shrink, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2LAB)
        m = cv2.resize(mask, shrink, interpolation=cv2.INTER_AREA) > 0.5
        if m.sum() < 16:
            return None
        px = lab[m].astype(np.float32)
        return px.mean(0), px.std(0) + 1.0

    s, r = stats(src), stats(ref)
    if s is None or r is None:
        return src
    gain = np.clip(r[1] / s[1], 0.5, 2.0)  # a flat (grey) reference must not blow the face up
    lab = cv2.cvtColor(src, cv2.COLOR_BGR2LAB).astype(np.float32)
    lab = (lab - s[0]) * gain + r[0]
    return cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)
