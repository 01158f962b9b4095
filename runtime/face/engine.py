"""The live face engine: one camera frame in, one frame out, with the persona's face on the caller.

    engine = LiveFace(YuNet(faceset.detector), build_swapper("classic", faceset), LiveSettings())
    out = engine.process(frame, t)      # t: seconds (the frame's capture time)

Per frame: downscale to the processing size; follow the caller's face (runtime.face.tracking);
check it can be swapped (big enough, still enough, lit, not covered); align it to the swapper's
template, swap, correct the colour, mask (feathered; optionally keep the caller's mouth), optionally
add a face enhancer's correction (refreshed every n frames), and blend back only the face's region.
When a check fails the swap fades out to the caller's own face over `fade_frames` and fades back
in when it passes again; with no face at all the caller's frame passes through unchanged. Every
fallback is counted by reason. The kill switch (the bundle's STOP file, or `KillSwitch.trip()`)
hands back the caller's own frame from the next frame on. A small "AI" mark is drawn on every
swapped-or-not output frame unless disclosure is turned off.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import cv2
import numpy as np

from runtime.face.blend import match_colour, mouth_mask
from runtime.face.geometry import (
    arcface_template,
    feather_mask,
    fit_similarity,
    paste_roi,
    template,
    transform_points,
    warp_face,
)
from runtime.face.measure import face_luma, occlusion
from runtime.face.settings import LiveSettings
from runtime.face.tracking import FaceTracker, Track
from runtime.kill import KillSwitch
from runtime.timings import Timings

FALLBACKS = ("no_face", "small_face", "fast_motion", "dark", "occluded", "swap_error")


@dataclass
class EngineStats:
    frames: int = 0
    swapped: int = 0  # frames with the persona's face in them (fading included)
    passthrough: int = 0  # frames out as the caller's own
    killed: int = 0  # frames while the kill switch was engaged
    fallback_frames: Counter = field(default_factory=Counter)  # reason -> frames
    fallback_events: Counter = field(default_factory=Counter)  # reason -> times a fallback began
    swap: Timings = field(default_factory=Timings)  # the swap model alone
    frame: Timings = field(default_factory=Timings)  # the whole frame

    def summary(self) -> dict:
        return {
            "frames": self.frames,
            "swapped": self.swapped,
            "passthrough": self.passthrough,
            "killed": self.killed,
            "fallback_frames": {k: self.fallback_frames[k] for k in FALLBACKS if self.fallback_frames[k]},
            "fallback_events": {k: self.fallback_events[k] for k in FALLBACKS if self.fallback_events[k]},
            "swap_ms": self.swap.summary_ms(),
            "frame_ms": self.frame.summary_ms(),
        }


class DisclosureMark:
    """A small translucent box with a text in the bottom-right corner, cached per frame size."""

    def __init__(self, text: str):
        self.text, self._cache = text, {}

    def _patch(self, h: int, w: int):
        scale = max(0.4, h / 900)
        (tw, th), base = cv2.getTextSize(self.text, cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, round(scale * 2)))
        pad = round(6 * scale)
        ph, pw = th + base + 2 * pad, tw + 2 * pad
        patch = np.full((ph, pw, 3), 32, np.uint8)
        cv2.putText(patch, self.text, (pad, pad + th), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                    max(1, round(scale * 2)), cv2.LINE_AA)  # fmt: skip
        margin = round(12 * scale)
        return patch.astype(np.float32), (h - margin - ph, w - margin - pw)

    def draw(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        if (h, w) not in self._cache:
            self._cache[(h, w)] = self._patch(h, w)
        patch, (y, x) = self._cache[(h, w)]
        if y < 0 or x < 0:
            return frame
        roi = frame[y : y + patch.shape[0], x : x + patch.shape[1]]
        roi[:] = (0.35 * roi + 0.65 * patch).astype(np.uint8)
        return frame


def downscale(frame: np.ndarray, height: int) -> np.ndarray:
    """`frame` no taller than `height` (aspect kept)."""
    h = frame.shape[0]
    if h <= height:
        return frame
    f = height / h
    return cv2.resize(frame, (round(frame.shape[1] * f), height), interpolation=cv2.INTER_AREA)


class LiveFace:
    """The per-frame core of the live path (no threads, no devices: see runtime.face.live)."""

    def __init__(
        self, detector, swapper, settings: LiveSettings, enhancer=None, kill: KillSwitch | None = None
    ):
        self.s, self.swapper, self.enhancer = settings, swapper, enhancer
        self.tracker = FaceTracker(detector, settings)
        self.kill = kill or KillSwitch()
        self.mark = DisclosureMark(settings.disclosure_text) if settings.disclosure else None
        self.stats = EngineStats()
        self.alpha = 0.0  # 0: the caller's own face, 1: the persona's; moves by 1/fade_frames
        self.reason: str | None = None  # the fallback in force, if any
        self._template = template(swapper.template, swapper.size)
        self._mask = feather_mask(swapper.size, settings.mask_margin, settings.mask_blur)
        self._lower_ref: np.ndarray | None = None  # the lower face while uncovered (texture check)
        self._enhance_residual: np.ndarray | None = None
        self._swapped_frames = 0

    # ------------------------------------------------------------------ checks
    def check(self, frame: np.ndarray, track: Track | None) -> str | None:
        """Why this frame's face must not be swapped, or None."""
        if track is None:
            return "no_face"
        if track.eye_distance < self.s.min_face_px:
            return "small_face"
        if track.motion > self.s.max_motion:
            return "fast_motion"
        crop = warp_face(frame, fit_similarity(track.smooth, arcface_template(112)), 112)
        if face_luma(crop) < self.s.min_luma:
            return "dark"
        if occlusion(crop) > self.s.max_occlusion or self._covered(crop):
            return "occluded"
        return None

    def _covered(self, crop: np.ndarray) -> bool:
        """The lower face's texture no longer looks like it did uncovered (a skin-coloured hand
        passes the colour test): normalised correlation with a slowly updated reference."""
        g = cv2.cvtColor(crop[62:104, 30:82], cv2.COLOR_BGR2GRAY)
        g = cv2.resize(g, (26, 21), interpolation=cv2.INTER_AREA).astype(np.float32)
        g = (g - g.mean()) / (g.std() + 1e-3)
        if self._lower_ref is None:
            self._lower_ref = g
            return False
        ncc = float((g * self._lower_ref).mean())
        if ncc < 0.35:
            return True
        self._lower_ref = 0.9 * self._lower_ref + 0.1 * g
        return False

    # ------------------------------------------------------------------ one frame
    def process(self, frame: np.ndarray, t: float) -> np.ndarray:
        """The output frame for camera `frame` captured at `t` seconds."""
        t0 = time.perf_counter()
        small = downscale(frame, self.s.process_height)
        frame = small if small is not frame else frame.copy()  # the output is ours, never the camera's buffer
        self.stats.frames += 1
        if self.kill.engaged():  # the caller's own camera, at once, no mark, no fade
            self.stats.killed += 1
            self.alpha, self.reason = 0.0, None
            return frame
        track = self.tracker.update(frame, t)
        if track is None:
            self._lower_ref = None  # a face that comes back may be someone else, in other light
        reason = self.check(frame, track)
        if reason is not None:
            self.stats.fallback_frames[reason] += 1
            if reason != self.reason:
                self.stats.fallback_events[reason] += 1
        self.reason = reason
        step = 1.0 / self.s.fade_frames
        self.alpha = (
            0.0 if track is None else min(1.0, max(0.0, self.alpha + (step if reason is None else -step)))
        )
        if self.alpha > 0.0:
            try:
                self._swap_into(frame, track)
                self.stats.swapped += 1
            except Exception:  # a failing swap model must not end the call: the caller's face instead
                self.stats.fallback_frames["swap_error"] += 1
                self.stats.fallback_events["swap_error"] += self.reason != "swap_error"
                self.reason, self.alpha = "swap_error", 0.0
                self.stats.passthrough += 1
        else:
            self.stats.passthrough += 1
        if self.mark is not None:
            self.mark.draw(frame)
        self.stats.frame.add(time.perf_counter() - t0)
        return frame

    def _swap_into(self, frame: np.ndarray, track: Track) -> None:
        size = self.swapper.size
        m = fit_similarity(track.smooth, self._template)
        live = warp_face(frame, m, size)
        points = transform_points(m, track.smooth)
        t0 = time.perf_counter()
        face, mask = self.swapper.swap(live, points)
        self.stats.swap.add(time.perf_counter() - t0)
        if self.s.colour_correction:
            face = match_colour(face, live, mask)
        mask = mask * self._mask
        if self.s.mouth_mask:
            mask = mask * (1.0 - mouth_mask(size, points))
        if self.enhancer is not None:
            face, mask, m = self._enhanced(face, mask, m, track)
        paste_roi(frame, face, m, mask * self.alpha)
        self._swapped_frames += 1

    def _enhanced(self, face, mask, m, track):
        """The swapped face moved into the enhancer's template, plus the enhancer's correction
        (enhanced minus input), refreshed every `enhance_every` swapped frames: the crop is
        pose-normalised, so a correction a few frames old still fits."""
        e = self.enhancer
        m_e = fit_similarity(track.smooth, template(e.template, e.size))
        to_e = _compose(m_e, cv2.invertAffineTransform(m))
        face_e = cv2.warpAffine(
            face, to_e, (e.size, e.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        mask_e = cv2.warpAffine(mask, to_e, (e.size, e.size), flags=cv2.INTER_LINEAR, borderValue=0)
        if self._enhance_residual is None or self._swapped_frames % self.s.enhance_every == 0:
            self._enhance_residual = e.enhance(face_e).astype(np.int16) - face_e
        face_e = np.clip(face_e + self._enhance_residual, 0, 255).astype(np.uint8)
        return face_e, mask_e, m_e


def _compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 2x3 affine doing `b`, then `a`."""
    return (np.vstack([a, [0, 0, 1]]) @ np.vstack([b, [0, 0, 1]]))[:2]
