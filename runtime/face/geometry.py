"""Face alignment geometry: 5-point templates, similarity fit, warp, and pasting a face back.

Pure numpy + cv2 so the live call path can reuse it. Points are (x, y) pixels in the order
left eye, right eye, nose tip, left mouth corner, right mouth corner ("left" = image left).

    M = fit_similarity(points, arcface_template(112))   # 2x3, image -> crop
    crop = warp_face(image, M, 112)
    paste_roi(frame, swapped_crop, M, feather_mask(112))  # back into the frame, in place
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

# ArcFace (insightface) 5-point template for a 112x112 crop.
ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
# FFHQ-style 512 crop (the 5-point template face restorers such as GFPGAN/CodeFormer align to):
# a looser crop than ArcFace's, with hair and chin inside.
FFHQ_512 = np.array(
    [
        [192.98138, 239.94708],
        [318.90277, 240.1936],
        [256.63416, 314.01935],
        [201.26117, 371.41043],
        [313.08905, 371.15118],
    ],
    dtype=np.float64,
)


def arcface_template(size: int = 112) -> np.ndarray:
    """ArcFace template for a `size` crop: multiples of 112 scale; others (128…) scale by size/128 and
    shift x by 8*size/128, the insightface convention."""
    if size % 112 == 0:
        return ARCFACE_112 * (size / 112)
    t = ARCFACE_112 * (size / 128)
    t[:, 0] += 8 * size / 128
    return t


def ffhq_template(size: int = 512) -> np.ndarray:
    return FFHQ_512 * (size / 512)


TEMPLATES = {"arcface": arcface_template, "ffhq": ffhq_template}


def template(kind: str, size: int) -> np.ndarray:
    """A named template (`arcface` or `ffhq`) at `size` pixels."""
    return TEMPLATES[kind](size)


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation; no reflection) taking `src`
    points onto `dst` (Umeyama 1991). Returns the 2x3 matrix for cv2.warpAffine."""
    src = np.asarray(src, np.float64).reshape(-1, 2)
    dst = np.asarray(dst, np.float64).reshape(-1, 2)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rot = u @ sign @ vt
    var_s = (s**2).sum() / len(src)
    scale = float((sig * np.diag(sign)).sum() / var_s) if var_s > 0 else 1.0
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def transform_points(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    pts = np.asarray(pts, np.float64).reshape(-1, 2)
    return pts @ m[:, :2].T + m[:, 2]


def invert(m: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(m, np.float64))


def similarity_params(m: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(scale, rotation in degrees, translation) of a 2x3 similarity."""
    scale = float(np.hypot(m[0, 0], m[1, 0]))
    return scale, float(np.degrees(np.arctan2(m[1, 0], m[0, 0]))), m[:, 2].copy()


def warp_face(image: np.ndarray, m: np.ndarray, size: int, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """The `size` x `size` crop that `m` (image -> crop) maps the face into."""
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=border)


def roll_degrees(points: np.ndarray) -> float:
    """Head roll from the eye line, degrees; positive when the right eye (image right) is lower."""
    p = np.asarray(points, np.float64).reshape(-1, 2)
    return float(np.degrees(np.arctan2(p[1, 1] - p[0, 1], p[1, 0] - p[0, 0])))


# Ratios of the ArcFace template (a frontal face): where the nose sits between eye line and mouth.
_EYES_Y, _MOUTH_Y = ARCFACE_112[:2, 1].mean(), ARCFACE_112[3:, 1].mean()
NOSE_RATIO = (ARCFACE_112[2, 1] - _EYES_Y) / (_MOUTH_Y - _EYES_Y)
# Nose-tip depth over inter-eye distance on an average adult head (~35 mm / 63 mm): how far the
# tip moves sideways per unit tan(yaw).
NOSE_DEPTH = 0.55


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


@lru_cache(maxsize=16)
def _feather(size: int, margin: float, blur: float) -> np.ndarray:
    mask = np.zeros((size, size), np.float32)
    m = round(size * margin)
    mask[m : size - m, m : size - m] = 1.0
    k = max(1.0, blur * size)
    mask = cv2.GaussianBlur(mask, (0, 0), k)
    mask.setflags(write=False)
    return mask


def feather_mask(size: int, margin: float = 0.08, blur: float = 0.05) -> np.ndarray:
    """A cached float32 mask for a `size` crop: 1 inside, fading to 0 at the border (read-only)."""
    return _feather(int(size), float(margin), float(blur))


def paste_roi(frame: np.ndarray, face: np.ndarray, m: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Blend `face` (a crop made with `m`: frame -> crop) back into `frame` in place, touching only
    the bounding box of the crop's footprint. Returns `frame`."""
    h, w = frame.shape[:2]
    size = face.shape[0]
    inv = invert(m)
    corners = transform_points(inv, [[0, 0], [size, 0], [0, size], [size, size]])
    x0, y0 = np.floor(corners.min(0)).astype(int)
    x1, y1 = np.ceil(corners.max(0)).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return frame
    shifted = inv.copy()
    shifted[:, 2] -= (x0, y0)
    roi_size = (x1 - x0, y1 - y0)
    warped = cv2.warpAffine(face, shifted, roi_size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(mask, shifted, roi_size, flags=cv2.INTER_LINEAR, borderValue=0)
    roi = frame[y0:y1, x0:x1]
    roi[:] = cv2.blendLinear(warped, roi, alpha, 1.0 - alpha)  # one pass in C, no float temporaries
    return frame


def paste_full(frame: np.ndarray, face: np.ndarray, m: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The same blend computed over the whole frame (the slow baseline paste_roi is measured
    against). Returns a new frame."""
    h, w = frame.shape[:2]
    inv = invert(m)
    warped = cv2.warpAffine(face, inv, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(mask, inv, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    a = alpha[..., None] if frame.ndim == 3 else alpha
    return (frame * (1.0 - a) + warped * a).astype(frame.dtype)
