"""Settings of the live face engine, stored in the bundle's face/face.json (`live`) from
conf/face_export/, overridable on the command line."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace


@dataclass(frozen=True)
class LiveSettings:
    # capture and processing
    process_height: int = 1080  # frames taller than this are processed downscaled (4K camera -> 1080p)
    fps: float = 30.0  # output frame rate of the live path (constant: late frames repeat the last one)
    # detection and tracking
    detect_every: int = 3  # detect on every k-th frame (and whenever the track is lost); track between
    detect_height: int = 360  # detection runs on a copy this tall
    detect_score: float = 0.6
    min_face_px: float = 24.0  # inter-eye distance in processed pixels; smaller faces are not swapped
    track_max_error: float = 0.12  # optical-flow forward-backward error (inter-eye distances): track lost
    # One-Euro landmark smoothing (Casiez et al. 2012): less jitter at rest, less lag in motion
    smooth_min_cutoff: float = 1.0  # Hz; lower = smoother at rest
    smooth_beta: float = 0.3  # speed coefficient (per inter-eye distance per second); higher = less lag
    smooth_d_cutoff: float = 1.0  # Hz, for the speed estimate
    # when to fall back to the caller's own face (fading out and back in)
    fade_frames: int = 5  # frames to fade between swapped and own face
    max_motion: float = 0.6  # landmark speed, inter-eye distances per frame, above which: fast_motion
    min_luma: float = 30.0  # mean face luma 0-255 below which: dark
    max_occlusion: float = 0.55  # share of the lower face unlike the skin above it: occluded
    # compositing
    mask_margin: float = 0.1  # feathered mask: inset and blur as shares of the crop
    mask_blur: float = 0.06
    colour_correction: bool = True  # match the swapped face's colour to the live face's
    mouth_mask: bool = False  # keep the caller's own mouth (talking looks natural with one-shot swaps)
    enhance_every: int = 5  # with a face enhancer: refresh its correction every n frames
    # governance
    disclosure: bool = True  # a small visible "AI" mark on every output frame
    disclosure_text: str = "AI"

    @classmethod
    def from_dict(cls, settings: dict) -> LiveSettings:
        """From face.json's `live` (unknown keys are an error: a typo must not fall back silently)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ValueError(f"unknown live face settings {unknown}; known: {sorted(known)}")
        s = cls(**settings)
        s.validate()
        return s

    def validate(self) -> None:
        if self.detect_every < 1 or self.fade_frames < 1 or self.enhance_every < 1:
            raise ValueError("detect_every, fade_frames and enhance_every must be >= 1")
        if self.process_height < 64 or self.detect_height < 64:
            raise ValueError("process_height and detect_height must be >= 64 pixels")
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, not {self.fps}")

    def with_changes(self, **changes) -> LiveSettings:
        s = replace(self, **{k: v for k, v in changes.items() if v is not None})
        s.validate()
        return s

    def to_dict(self) -> dict:
        return asdict(self)
