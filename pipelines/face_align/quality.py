"""Per-face measurements on the aligned crop: sharpness and exposure (pose, occlusion: runtime/face,
where the live path measures them too)."""

from __future__ import annotations

import cv2
import numpy as np

from runtime.face.measure import face_mask


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian of the face region after normalising its contrast to unit std, so
    dark or flat-lit photos of a sharp face are not called blurred."""
    g = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32)
    mask = face_mask(g.shape[0])
    std = float(g[mask].std())
    if std < 1e-3:
        return 0.0
    lap = cv2.Laplacian((g - g[mask].mean()) / std, cv2.CV_32F, ksize=3)
    return float(lap[mask].var() * 100.0)


def exposure(crop: np.ndarray) -> dict:
    """Mean luma (0-255) of the face region and the share of its pixels clipped dark or bright."""
    g = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)[face_mask(crop.shape[0])]
    return {
        "luma": float(g.mean()),
        "clipped": float(((g <= 3) | (g >= 252)).mean()),
        "contrast": float(g.std()),
    }
