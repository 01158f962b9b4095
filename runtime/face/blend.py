"""Compositing helpers for swapped faces (numpy + cv2): where the face is, where the mouth is, and
colour transfer so the persona's face takes the live frame's light."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np


def _soft_ellipse(size: int, centre, axes, angle: float, sigma: float) -> np.ndarray:
    """A filled ellipse in a `size` mask, edges blurred by `sigma` px; drawn and blurred at a quarter
    of the size and scaled up (a smooth mask loses nothing, the blur costs ~16x less)."""
    f = 0.25 if size >= 128 else 1.0
    n = max(1, round(size * f))
    shift = 4  # sub-pixel drawing, so the mask moves smoothly with the points
    px = 1 << shift
    centre = tuple(round(float(v) * f * px) for v in centre)
    axes = tuple(max(1, round(float(v) * f * px)) for v in axes)
    small = np.zeros((n, n), np.float32)
    cv2.ellipse(small, centre, axes, float(angle), 0, 360, 1.0, -1, cv2.LINE_AA, shift)
    small = cv2.GaussianBlur(small, (0, 0), max(0.5, sigma * f))
    mask = small if n == size else cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)
    mask = np.clip(mask, 0.0, 1.0)
    mask.setflags(write=False)
    return mask


def _quarter_pixels(points: np.ndarray) -> tuple:
    # A still face repeats its points to within a quarter pixel: those frames reuse the cached mask.
    return tuple(np.round(np.asarray(points, np.float64).reshape(10) * 4).astype(int).tolist())


def face_region_mask(size: int, points: np.ndarray, feather: float = 0.03) -> np.ndarray:
    """A float32 mask (read-only) of the face in a `size` crop from its five points: brows to chin,
    cheek to cheek (not hair or background), a smooth convex region whose edge is feathered by
    `feather` of the crop."""
    return _face_region(int(size), _quarter_pixels(points), float(feather))


@lru_cache(maxsize=32)
def _face_region(size: int, quarter_points: tuple, feather: float) -> np.ndarray:
    p = np.asarray(quarter_points, np.float64).reshape(5, 2) / 4
    eyes, mouth = p[:2].mean(0), p[3:].mean(0)
    iod = max(float(np.hypot(*(p[1] - p[0]))), 1e-6)
    down = mouth - eyes
    h = max(float(np.hypot(*down)), 1e-6)  # eye line to mouth
    angle = np.degrees(np.arctan2(p[1, 1] - p[0, 1], p[1, 0] - p[0, 0]))
    # Proportions of a frontal face (checked on the astronaut's FFHQ crop): the top of the forehead
    # below the hairline ~0.55 h above the eye line, the chin ~0.7 h below the mouth, the cheeks
    # ~0.95 inter-eye distances either side of the midline at the nose.
    top, bottom = -0.55, 1.7
    centre = eyes + down * (top + bottom) / 2
    axes = (0.95 * iod, h * (bottom - top) / 2)
    return _soft_ellipse(size, centre, axes, angle, feather * size)


def mouth_mask(size: int, points: np.ndarray, feather: float = 0.03) -> np.ndarray:
    """A float32 mask (read-only), 1 where the caller's own mouth is kept: an ellipse around the
    mouth corners, feathered."""
    return _mouth(int(size), _quarter_pixels(points), float(feather))


@lru_cache(maxsize=32)
def _mouth(size: int, quarter_points: tuple, feather: float) -> np.ndarray:
    p = np.asarray(quarter_points, np.float64).reshape(5, 2) / 4
    width = max(float(np.hypot(*(p[4] - p[3]))), 1e-6)
    angle = np.degrees(np.arctan2(p[4, 1] - p[3, 1], p[4, 0] - p[3, 0]))
    return _soft_ellipse(size, p[3:].mean(0), (0.75 * width, 0.45 * width), angle, feather * size)


def match_colour(src: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`src` (BGR uint8) with the mean and spread of each LAB channel moved to `ref`'s (same size),
    both measured where `mask` > 0.5. `src` itself when the mask covers (almost) nothing."""
    # Statistics on a 64-px copy: they need no more pixels, and the copy costs ~0.2 ms at 256².
    f = 64 / max(src.shape[:2])
    small = (max(1, round(src.shape[1] * f)), max(1, round(src.shape[0] * f)))
    inside = cv2.resize(np.asarray(mask, np.float32), small, interpolation=cv2.INTER_AREA) > 0.5
    if inside.sum() < 16:
        return src

    def stats(img):
        px = cv2.cvtColor(cv2.resize(img, small, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2LAB)[inside]
        px = px.astype(np.float32)
        return px.mean(0), px.std(0) + 1.0

    (s_mean, s_std), (r_mean, r_std) = stats(src), stats(ref)
    # Bounded gain: a flat reference (a grey or grayscale-looking frame) must not flatten the face to
    # one colour, nor a flat persona photo be blown up into noise.
    gain = np.clip(r_std / s_std, 0.5, 2.0)
    affine = np.hstack([np.diag(gain), (r_mean - s_mean * gain)[:, None]]).astype(np.float32)
    # cv2.transform applies the per-channel gain and offset in one saturating uint8 pass (~20x
    # faster than the same arithmetic in float numpy).
    lab = cv2.transform(cv2.cvtColor(src, cv2.COLOR_BGR2LAB), affine)
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)
