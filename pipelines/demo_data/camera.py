"""A demo "camera" clip for the live face path: someone who is NOT the persona on a video call.

    write_camera(folder, seed=7) -> sidecar   # folder/demo_call.mp4, demo_call.wav, demo_call.json

The caller is face 46 of `skimage.data.lfw_subset()` (the persona is the astronaut; the LFW crops are
distributed with scikit-image for research), upscaled with a skin tint, with a neck and shoulders, in
front of a plain room. 1280x720 at 25 fps, 10 s, in segments that exercise every branch of the live
engine: at rest (breathing), moving across, turning the head (yaw: the nose moved against eyes and
mouth with photos.py's `_turn`, plus a horizontal squeeze), a hand sliding over the lower face,
leaving the frame and coming back, dim light, black frames. The sidecar lists the segments with
their frame ranges and, per frame, where the face box was drawn (null when no face is visible) and
the brightness. Same seed, same frames.

The caller's microphone for the same call is `demo_call.wav`: the clip's length of humming speech
(demo_data/audio.py's synthesizer) at a lower pitch than the persona's recordings, 48 kHz mono
16-bit, the call's device format. Call mode's file stand-ins play the two together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipelines.demo_data.photos import _lfw_face, _turn

NAME = "demo_call"
WIDTH, HEIGHT, FPS = 1280, 720, 25
AUDIO_RATE = 48000
LFW_FACE = 46  # not used by the demo photos
FACE = 280  # px: the LFW crop's size in the frame at rest
# Where YuNet finds the face inside the upscaled LFW crop (measured once, as fractions of the crop),
# and the nose tip (the centre of the head-turn warp).
FACE_BOX = (0.08, 0.0, 0.82, 0.98)
NOSE = (0.425, 0.60)
SKIN = np.array([0.78, 0.88, 1.0], np.float32)  # BGR gain on the grey LFW face: a warm skin tone
HAND = (150, 178, 222)  # BGR
HOME = (640.0, 330.0)  # face centre at rest

# (kind, seconds, what): the tests read the kinds from the sidecar.
SEGMENTS = (
    ("rest", 2.0, "at rest, breathing"),
    ("move", 1.6, "moving across the frame and back"),
    ("turn", 1.6, "turning the head right, then left (yaw)"),
    ("occluded", 1.6, "a hand slides over the lower face and away"),
    ("move", 0.8, "leaving the frame to the right"),
    ("absent", 0.8, "nobody in the frame"),
    ("move", 0.8, "coming back"),
    ("dim", 1.0, "the light dims to a quarter"),
    ("black", 0.08, "black frames (the camera hiccups)"),
    ("rest", 0.72, "at rest again"),
)


@dataclass(frozen=True)
class Pose:
    """Where and how the caller is drawn in one frame."""

    cx: float  # face centre, frame pixels
    cy: float
    scale: float = 1.0
    yaw: float = 0.0  # -1..1: how far the head is turned (nose shift and squeeze)
    hand: float = 0.0  # 0..1: how far the hand has slid up over the lower face
    brightness: float = 1.0
    black: bool = False


def _ease(u: float) -> float:
    """Smooth 0 -> 1 -> 0 over u in [0, 1]."""
    return float(np.sin(np.pi * np.clip(u, 0.0, 1.0)))


def _ramp(u: float) -> float:
    """Smooth 0 -> 1 over u in [0, 1]."""
    return float(0.5 - 0.5 * np.cos(np.pi * np.clip(u, 0.0, 1.0)))


def segment_ranges() -> list[dict]:
    """The segments with their frame ranges [start, end)."""
    out, start = [], 0
    for kind, seconds, what in SEGMENTS:
        n = max(1, round(seconds * FPS))
        out.append({"kind": kind, "start": start, "end": start + n, "what": what})
        start += n
    return out


def poses(seed: int = 7) -> list[Pose]:
    """The caller's pose in every frame, segment by segment."""
    rng = np.random.default_rng(seed)
    phase = float(rng.uniform(0, 2 * np.pi))  # breathing phase
    out: list[Pose] = []
    moves = 0
    for seg in segment_ranges():
        n = seg["end"] - seg["start"]
        for k in range(n):
            frame, u = seg["start"] + k, k / max(n - 1, 1)
            t = frame / FPS
            breath = np.sin(2 * np.pi * 0.3 * t + phase)
            cx, cy, scale = HOME[0], HOME[1] + 3.0 * breath, 1.0 + 0.006 * breath
            kind = seg["kind"]
            if kind == "move":
                if moves == 0:  # across and back
                    cx -= 320.0 * _ease(u)
                elif moves == 1:  # leaving to the right
                    cx += (WIDTH - HOME[0] + FACE) * _ramp(u)
                else:  # coming back
                    cx += (WIDTH - HOME[0] + FACE) * (1 - _ramp(u))
            if kind == "turn":
                out.append(Pose(cx, cy, scale, yaw=float(np.sin(2 * np.pi * u))))
            elif kind == "occluded":
                out.append(Pose(cx, cy, scale, hand=float(np.clip(1.6 * _ease(u), 0, 1))))
            elif kind == "absent":
                out.append(Pose(WIDTH + 2 * FACE, cy, scale))
            elif kind == "dim":
                out.append(Pose(cx, cy, scale, brightness=1.0 - 0.75 * _ramp(min(1.0, 2 * u))))
            elif kind == "black":
                out.append(Pose(cx, cy, scale, brightness=0.0, black=True))
            else:
                out.append(Pose(cx, cy, scale))
        if seg["kind"] == "move":
            moves += 1
    return out


def _room(seed: int) -> np.ndarray:
    """A plain room behind the caller: a warm wall, a door, a shelf."""
    rng = np.random.default_rng(seed + 1)
    wall = np.linspace(200, 150, HEIGHT, dtype=np.float32)[:, None, None] * np.array([0.86, 0.93, 1.0])
    img = np.broadcast_to(wall, (HEIGHT, WIDTH, 3)).astype(np.uint8).copy()
    door = tuple(int(v) for v in rng.integers(90, 140, 3))
    cv2.rectangle(img, (60, 120), (300, HEIGHT), door, -1)
    cv2.rectangle(img, (930, 250), (1240, 270), (70, 95, 125), -1)  # shelf
    for i, x in enumerate(range(950, 1220, 45)):
        h = int(rng.integers(50, 95))
        colour = tuple(int(v) for v in rng.integers(40, 200, 3))
        cv2.rectangle(img, (x, 250 - h), (x + 30 + (i % 2) * 6, 250), colour, -1)  # books
    return img


def _person() -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """The caller as a sprite (BGR uint8, float alpha) with shoulders, and the face centre in it."""
    w, h = 2 * FACE, 3 * FACE
    sprite = np.zeros((h, w, 3), np.float32)
    alpha = np.zeros((h, w), np.float32)
    fx, fy = FACE // 2, FACE // 4  # the face crop's top-left corner in the sprite
    # shoulders and a neck under the face
    shoulders = ((w // 2, int(2.75 * FACE)), (int(0.95 * FACE), int(1.2 * FACE)), 0, 0, 360)
    cv2.ellipse(sprite, *shoulders, (95, 60, 45), -1)
    cv2.ellipse(alpha, *shoulders, 1.0, -1)
    neck = (int(w / 2 - 0.2 * FACE), fy + int(0.8 * FACE), int(w / 2 + 0.2 * FACE), int(1.75 * FACE))
    cv2.rectangle(sprite, neck[:2], neck[2:], (100, 125, 165), -1)
    cv2.rectangle(alpha, neck[:2], neck[2:], 1.0, -1)
    tile = _lfw_face(LFW_FACE, FACE)[FACE // 2 : FACE // 2 + FACE, FACE // 2 : FACE // 2 + FACE]
    face = np.clip(tile.astype(np.float32) * SKIN + (18, 22, 28), 0, 255)
    oval = np.zeros((FACE, FACE), np.float32)
    cv2.ellipse(oval, (FACE // 2, FACE // 2), (int(0.47 * FACE), int(0.52 * FACE)), 0, 0, 360, 1.0, -1)
    oval = cv2.GaussianBlur(oval, (0, 0), 0.03 * FACE)
    region = (slice(fy, fy + FACE), slice(fx, fx + FACE))
    sprite[region] = sprite[region] * (1 - oval[..., None]) + face * oval[..., None]
    alpha[region] = np.maximum(alpha[region], oval)
    return np.clip(sprite, 0, 255).astype(np.uint8), alpha, (fx + FACE / 2, fy + FACE / 2)


def face_box(pose: Pose) -> list[float] | None:
    """The drawn face box (x0, y0, x1, y1) in the frame, clipped to it; None when no face shows
    (black frame, or less than half the box inside the frame)."""
    if pose.black:
        return None
    squeeze = 1 - 0.12 * abs(pose.yaw)
    s = FACE * pose.scale
    x0, y0 = pose.cx + (FACE_BOX[0] - 0.5) * s * squeeze, pose.cy + (FACE_BOX[1] - 0.5) * s
    x1, y1 = pose.cx + (FACE_BOX[2] - 0.5) * s * squeeze, pose.cy + (FACE_BOX[3] - 0.5) * s
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, WIDTH), min(y1, HEIGHT)
    if cx1 <= cx0 or cy1 <= cy0 or (cx1 - cx0) * (cy1 - cy0) < 0.5 * (x1 - x0) * (y1 - y0):
        return None
    return [round(float(v), 1) for v in (cx0, cy0, cx1, cy1)]


class Renderer:
    """Draws frames from poses (the room and the sprite are made once)."""

    def __init__(self, seed: int = 7):
        self.room = _room(seed)
        self.sprite, self.alpha, self.centre = _person()

    def frame(self, pose: Pose) -> np.ndarray:
        if pose.black:
            return np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        sprite = self.sprite
        if pose.yaw:
            fx, fy = self.centre[0] - FACE / 2, self.centre[1] - FACE / 2
            nose = (fx + NOSE[0] * FACE, fy + NOSE[1] * FACE)
            sprite = _turn(sprite, nose, 0.15 * FACE * pose.yaw, 0.0, 0.16 * FACE)
        squeeze = 1 - 0.12 * abs(pose.yaw)
        sx, sy = pose.scale * squeeze, pose.scale
        img = self.room.copy()
        # only the sprite's footprint is warped and blended (a full-frame float blend is 4x slower)
        h, w = sprite.shape[:2]
        x0, y0 = pose.cx - sx * self.centre[0], pose.cy - sy * self.centre[1]
        c0, r0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
        c1, r1 = min(WIDTH, int(np.ceil(x0 + sx * w))), min(HEIGHT, int(np.ceil(y0 + sy * h)))
        if c1 > c0 and r1 > r0:
            m = np.array([[sx, 0, x0 - c0], [0, sy, y0 - r0]])
            size = (c1 - c0, r1 - r0)
            colour = cv2.warpAffine(sprite, m, size, flags=cv2.INTER_LINEAR)
            a = cv2.warpAffine(self.alpha, m, size, flags=cv2.INTER_LINEAR)
            img[r0:r1, c0:c1] = cv2.blendLinear(colour, img[r0:r1, c0:c1], a, 1 - a)
        if pose.hand > 0:
            self._hand(img, pose)
        if pose.brightness != 1.0:
            img = cv2.convertScaleAbs(img, alpha=pose.brightness)
        return img

    @staticmethod
    def _hand(img: np.ndarray, pose: Pose) -> None:
        """A hand-coloured rounded rectangle risen from below to cover the lower face (`hand` = 1:
        from just under the nose to the chin)."""
        s = FACE * pose.scale
        w, h = 0.62 * s, 0.62 * s
        top_at_rest = pose.cy + 0.08 * s  # just under the nose
        y0 = HEIGHT + (top_at_rest - HEIGHT) * pose.hand
        x0 = pose.cx - w / 2
        p0 = (int(x0), int(y0))
        p1 = (int(x0 + w), int(min(y0 + h, HEIGHT + 1)))
        if p0[1] >= HEIGHT:
            return
        pad = 6  # room for the blurred edge
        c0, r0, c1, r1 = max(p0[0] - pad, 0), max(p0[1] - pad, 0), min(p1[0] + pad, WIDTH), HEIGHT
        layer = np.zeros((r1 - r0, c1 - c0), np.uint8)
        r = int(0.18 * w)
        q0, q1 = (p0[0] - c0, p0[1] - r0), (p1[0] - c0, int(y0 + h) - r0)
        cv2.rectangle(layer, (q0[0] + r, q0[1]), (q1[0] - r, q1[1]), 255, -1)
        cv2.rectangle(layer, (q0[0], q0[1] + r), (q1[0], q1[1] - r), 255, -1)
        for c in (
            (q0[0] + r, q0[1] + r),
            (q1[0] - r, q0[1] + r),
            (q0[0] + r, q1[1] - r),
            (q1[0] - r, q1[1] - r),
        ):
            cv2.circle(layer, c, r, 255, -1)
        mask = cv2.GaussianBlur(layer, (0, 0), 2.0).astype(np.float32)[..., None] / 255
        roi = img[r0:r1, c0:c1]
        roi[:] = np.clip(roi * (1 - mask) + np.array(HAND, np.float32) * mask, 0, 255).astype(np.uint8)


def sidecar(seed: int = 7) -> dict:
    """What the clip shows: segments with frame ranges, and per frame the face box and brightness."""
    ps = poses(seed)
    ranges = segment_ranges()
    kind_of = [seg["kind"] for seg in ranges for _ in range(seg["end"] - seg["start"])]
    return {
        "video": f"{NAME}.mp4",
        "width": WIDTH,
        "height": HEIGHT,
        "fps": FPS,
        "frames": len(ps),
        "seed": seed,
        "person": f"skimage.data.lfw_subset()[{LFW_FACE}], not the persona",
        "segments": ranges,
        "per_frame": [
            {
                "frame": i,
                "segment": kind_of[i],
                "box": face_box(p),
                "brightness": round(p.brightness, 3),
                "yaw": round(p.yaw, 3),
                "hand": round(p.hand, 3),
            }
            for i, p in enumerate(ps)
        ],
    }


def frames(seed: int = 7):
    """Every frame of the clip (BGR uint8), in order."""
    renderer = Renderer(seed)
    for pose in poses(seed):
        yield renderer.frame(pose)


def write_microphone(path: Path, seconds: float, seed: int = 7) -> dict:
    """The caller's voice during the clip: a 48 kHz mono 16-bit wav."""
    import soundfile as sf

    from pipelines.demo_data.audio import add_noise, speech_like

    rng = np.random.default_rng(seed + 1)
    x, _ = speech_like(seconds, AUDIO_RATE, rng, f0_range=(95.0, 170.0))  # not the persona's range
    x = add_noise(x, 30.0, rng, AUDIO_RATE)
    sf.write(str(path), x, AUDIO_RATE, subtype="PCM_16")
    return {"file": path.name, "samplerate": AUDIO_RATE, "seconds": round(len(x) / AUDIO_RATE, 3)}


def write_camera(folder: str | Path, seed: int = 7) -> dict:
    """Write `demo_call.mp4` (MPEG-4 Part 2, 'mp4v'), the caller's microphone `demo_call.wav` and the
    sidecar `demo_call.json` into `folder`; returns the sidecar. Fails when this OpenCV build cannot
    write mp4v."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{NAME}.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise RuntimeError(f"this OpenCV build cannot write mp4v video ({path})")
    try:
        for img in frames(seed):
            writer.write(img)
    finally:
        writer.release()
    meta = sidecar(seed)
    meta["audio"] = write_microphone(folder / f"{NAME}.wav", meta["frames"] / FPS, seed)
    (folder / f"{NAME}.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return meta
