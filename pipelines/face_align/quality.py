"""Per-face measurements on the aligned crop and the five points: sharpness, exposure, pose."""

from __future__ import annotations

import cv2
import numpy as np

from runtime.face.geometry import roll_degrees

# Ratios of the ArcFace template (a frontal face): where the nose sits between eye line and mouth.
_T = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)
NOSE_RATIO = (_T[2, 1] - _T[:2, 1].mean()) / (_T[3:, 1].mean() - _T[:2, 1].mean())
# Nose-tip depth over inter-eye distance on an average adult head (~35 mm / 63 mm): how far the
# tip moves sideways per unit tan(yaw).
NOSE_DEPTH = 0.55


def face_mask(size: int) -> np.ndarray:
    """An ellipse over the face in an ArcFace crop (cheeks to chin), excluding most background."""
    m = np.zeros((size, size), np.uint8)
    cv2.ellipse(m, (size // 2, int(size * 0.55)), (int(size * 0.34), int(size * 0.44)), 0, 0, 360, 1, -1)
    return m.astype(bool)


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


def pose(points: np.ndarray) -> dict:
    """Approximate head pose (degrees) from five points: roll from the eye line; yaw from the nose
    tip's sideways offset from the eye-mouth midline; pitch from its height between eye line and
    mouth. yaw > 0: nose towards image right; pitch > 0: face tilted up."""
    p = np.asarray(points, float).reshape(5, 2)
    roll = roll_degrees(p)
    c, s = np.cos(np.radians(-roll)), np.sin(np.radians(-roll))
    q = (p - p[:2].mean(0)) @ np.array([[c, -s], [s, c]]).T  # eye line horizontal, eye middle at 0
    iod = max(q[1, 0] - q[0, 0], 1e-6)
    mouth = q[3:].mean(0)
    mid_x = mouth[0] / 2  # midline x at the nose's height (eyes' middle is 0)
    yaw = np.degrees(np.arctan2((q[2, 0] - mid_x) / iod, NOSE_DEPTH))
    em = max(mouth[1], 1e-6)
    pitch = np.degrees(np.arctan2((NOSE_RATIO - q[2, 1] / em) * em / iod, NOSE_DEPTH))
    return {"yaw": float(yaw), "pitch": float(pitch), "roll": float(roll)}


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
