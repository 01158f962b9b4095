"""Following one face through a live video: detect every k frames, track in between, smooth.

    tracker = FaceTracker(YuNet("face/detector.onnx"), LiveSettings())
    track = tracker.update(frame, t)     # Track (points, box, motion, ...) or None: no face
    track.smooth                         # One-Euro smoothed points: what the swap is aligned to

Detection (YuNet on a small copy of the frame) runs on every `detect_every`-th frame and whenever
the track is lost; in between, corners inside the face are followed with pyramidal Lucas-Kanade
optical flow (forward and backward, so a bad match is caught), and the five points move by the
similarity that best explains the corners' motion (RANSAC). The flow runs on a crop around the face
scaled so the eyes are ~64 px apart: its cost does not grow with the camera's resolution.

The face followed is the one already tracked (by overlap), never a larger face that walks into
the background; a new face is acquired (the largest) only once the track has been lost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from runtime.face.detect import Detection
from runtime.face.geometry import fit_similarity, transform_points
from runtime.face.settings import LiveSettings

FLOW_EYE_PX = 64.0  # inter-eye distance the flow crop is scaled to
LK = {"winSize": (15, 15), "maxLevel": 2,
      "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03)}  # fmt: skip


def eye_distance(points: np.ndarray) -> float:
    return float(np.hypot(*(points[1] - points[0])))


class OneEuroFilter:
    """One-Euro filter (Casiez, Roussel, Vogel 2012) over an array of coordinates: an exponential
    smoother whose cutoff rises with speed, so it is smooth at rest and follows fast moves with
    little lag. Speed is measured in units of `scale` per second (inter-eye distances), so the
    same settings hold at any resolution."""

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.reset()

    def reset(self) -> None:
        self.x = self.dx = self.t = None

    @staticmethod
    def _alpha(cutoff: float, dt: float) -> float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: np.ndarray, t: float, scale: float = 1.0) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self.x is None or t <= self.t:
            self.x, self.dx, self.t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self.t
        dx = (x - self.x) / dt / max(scale, 1e-6)
        a_d = self._alpha(self.d_cutoff, dt)
        self.dx = a_d * dx + (1 - a_d) * self.dx
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx)
        a = self._alpha(cutoff, dt)  # per coordinate
        self.x = a * x + (1 - a) * self.x
        self.t = t
        return self.x.copy()


@dataclass
class Track:
    points: np.ndarray  # 5 x 2, raw (detected or tracked), processed-frame pixels
    smooth: np.ndarray  # 5 x 2, One-Euro smoothed
    box: np.ndarray  # x0, y0, x1, y1
    score: float  # the last detection's confidence
    detected: bool  # this frame's points come from the detector (else from optical flow)
    motion: float  # raw point speed this frame, inter-eye distances per frame
    age: int  # frames since the track was acquired

    @property
    def eye_distance(self) -> float:
        return eye_distance(self.smooth)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class FaceTracker:
    """One face followed through a stream of frames (see the module docstring)."""

    def __init__(self, detector, settings: LiveSettings):
        self.detector, self.s = detector, settings
        s = settings
        self.filter = OneEuroFilter(s.smooth_min_cutoff, s.smooth_beta, s.smooth_d_cutoff)
        self.track: Track | None = None
        self.frame_index = 0
        self.detections = 0  # detector runs, for the report
        self.unconfirmed = 0  # frames the track has gone on without a detection
        self._prev_gray: np.ndarray | None = None  # the flow crop of the previous frame
        self._prev_crop_m: np.ndarray | None = None  # frame -> flow crop
        self._corners: np.ndarray | None = None  # corners in the previous flow crop

    # ------------------------------------------------------------------ detection
    def detect(self, frame: np.ndarray) -> list[Detection]:
        self.detections += 1
        h = frame.shape[0]
        f = min(1.0, self.s.detect_height / h)
        small = frame if f == 1.0 else cv2.resize(frame, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        found = [d.scaled(1.0 / f) for d in self.detector.detect(small)]
        return [d for d in found if d.score >= self.s.detect_score]

    def choose(self, found: list[Detection]) -> Detection | None:
        """The tracked face if it is among `found` (best overlap), else the largest when no face is
        tracked; a face that does not overlap the track is not taken while the track lives."""
        if not found:
            return None
        if self.track is None:
            return max(found, key=lambda d: d.area)
        best = max(found, key=lambda d: iou(d.box, self.track.box))
        return best if iou(best.box, self.track.box) > 0.2 else None

    # ------------------------------------------------------------------ optical flow
    def _flow_crop(self, frame: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A gray crop around the face, scaled so the eyes are FLOW_EYE_PX apart, and its matrix."""
        f = FLOW_EYE_PX / max(eye_distance(points), 1e-6)
        side = int(FLOW_EYE_PX * 4)
        cx, cy = points.mean(0)
        m = np.array([[f, 0, side / 2 - f * cx], [0, f, side / 2 - f * cy]])
        crop = cv2.warpAffine(frame, m, (side, side), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
        return cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), m

    def _remember(self, frame: np.ndarray, points: np.ndarray) -> None:
        gray, m = self._flow_crop(frame, points)
        inner = np.zeros_like(gray)
        face_pts = transform_points(m, points)
        cx, cy = face_pts.mean(0)
        r = int(FLOW_EYE_PX * 1.1)
        cv2.ellipse(inner, (int(cx), int(cy)), (r, int(r * 1.3)), 0, 0, 360, 255, -1)
        corners = cv2.goodFeaturesToTrack(gray, 60, 0.01, 4, mask=inner)
        self._prev_gray, self._prev_crop_m = gray, m
        self._corners = None if corners is None else corners.reshape(-1, 2).astype(np.float32)

    def _flow(self, frame: np.ndarray) -> np.ndarray | None:
        """The track's five points moved to `frame` by optical flow, or None when the flow fails."""
        if self._corners is None or len(self._corners) < 6:
            return None
        # the same window as the previous crop, so the flow sees the face's motion
        side = self._prev_gray.shape[0]
        crop = cv2.warpAffine(frame, self._prev_crop_m, (side, side), flags=cv2.INTER_AREA,
                              borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
        gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
        p0 = self._corners.reshape(-1, 1, 2)
        p1, st1, _ = cv2.calcOpticalFlowPyrLK(self._prev_gray, gray, p0, None, **LK)
        if p1 is None:
            return None
        back, st2, _ = cv2.calcOpticalFlowPyrLK(gray, self._prev_gray, p1, None, **LK)
        fb = np.linalg.norm(back.reshape(-1, 2) - self._corners, axis=1)
        ok = (st1.ravel() == 1) & (st2.ravel() == 1) & (fb < self.s.track_max_error * FLOW_EYE_PX)
        if ok.sum() < max(6, 0.4 * len(ok)):
            return None
        m, inliers = cv2.estimateAffinePartial2D(self._corners[ok], p1.reshape(-1, 2)[ok],
                                                 method=cv2.RANSAC, ransacReprojThreshold=2.0)  # fmt: skip
        if m is None or inliers is None or inliers.sum() < max(6, 0.5 * ok.sum()):
            return None
        prev_in_crop = transform_points(self._prev_crop_m, self.track.points)
        moved_in_crop = transform_points(m, prev_in_crop)
        return transform_points(cv2.invertAffineTransform(self._prev_crop_m), moved_in_crop)

    # ------------------------------------------------------------------ one frame
    def update(self, frame: np.ndarray, t: float) -> Track | None:
        """The followed face in `frame` (processed-frame pixels) at time `t` seconds, or None."""
        i, self.frame_index = self.frame_index, self.frame_index + 1
        flowed = self._flow(frame) if self.track is not None else None
        # the flow may carry the track alone for a while (the detector misses a half-covered face),
        # but not for long: unconfirmed, it could drift onto whatever covers the face
        confirmed = self.track is not None and self.unconfirmed < 3 * self.s.detect_every
        if flowed is not None and confirmed and i % self.s.detect_every != 0:
            return self._advance(frame, t, flowed, False, self.track.score, self._box_of(flowed))
        found = self.detect(frame)
        chosen = self.choose(found)
        if chosen is None and flowed is not None and confirmed:
            return self._advance(frame, t, flowed, False, self.track.score, self._box_of(flowed))
        if chosen is None:
            self.lose()
            chosen = self.choose(found)  # whoever is there now, the largest
            if chosen is None:
                return None
        points = chosen.points
        if self.track is not None:
            points = self._settle(self.track.points, points)
        return self._advance(frame, t, points, True, chosen.score, chosen.box)

    def _advance(self, frame, t, points, detected, score, box) -> Track:
        prev = self.track
        motion = (
            0.0
            if prev is None
            else float(
                np.linalg.norm(points - prev.points, axis=1).mean() / max(eye_distance(prev.points), 1e-6)
            )
        )
        smooth = self.filter(points, t, eye_distance(points))
        self.track = Track(points, smooth, np.asarray(box, float), score, detected, motion,
                           0 if prev is None else prev.age + 1)  # fmt: skip
        self.unconfirmed = 0 if detected else self.unconfirmed + 1
        self._remember(frame, points)
        return self.track

    def _box_of(self, points: np.ndarray) -> np.ndarray:
        """The track's box carried along with the points (same similarity)."""
        m = fit_similarity(self.track.points, points)
        b = self.track.box
        corners = transform_points(m, [[b[0], b[1]], [b[2], b[3]]])
        return np.array([*corners.min(0), *corners.max(0)])

    @staticmethod
    def _settle(tracked: np.ndarray, detected: np.ndarray) -> np.ndarray:
        """On a detection frame: the detected points, but pulled halfway to the tracked ones when
        they agree to within a tenth of the eye distance (the detector's own jitter)."""
        d = np.linalg.norm(detected - tracked, axis=1).mean() / max(eye_distance(tracked), 1e-6)
        return 0.5 * (tracked + detected) if d < 0.1 else detected

    def lose(self) -> None:
        self.track = None
        self.filter.reset()
        self._corners = None
