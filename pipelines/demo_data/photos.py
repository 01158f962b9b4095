"""Demo photos for the face stages, made offline from images bundled with scikit-image.

    write_photos(folder, seed=0) -> {file name: what it is}

The persona is the astronaut Eileen Collins (`skimage.data.astronaut()`, a NASA portrait in the
public domain), in variants that must be kept or rejected for a stated reason: rotated, mirrored,
rescaled, cropped, darkened, blurred, tiny, grayscale, CMYK, EXIF-rotated, inside a panorama,
with simulated head turns. Other people: faces from `skimage.data.lfw_subset()` (25x25 crops of
Labeled Faces in the Wild bundled with scikit-image; LFW states no licence, it is distributed for
research) upscaled, and the cameraman (`skimage.data.camera()`, CC0); non-faces: coffee and Chelsea
the cat (CC0), a rocket (SpaceX, public domain). Bad files: text named .jpg, a truncated JPEG, an
empty PNG. Same seed, same bytes.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage import data

# What each demo photo is, for tests and the audit: "persona" photos should be kept unless the
# expectation names a rejection reason.
PERSONA, OTHER, NO_FACE, UNREADABLE = "persona", "other person", "no face", "unreadable"


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[..., ::-1])


def _rotate(img: np.ndarray, degrees: float, scale: float = 1.0) -> np.ndarray:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, scale)
    return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def _turn(img: np.ndarray, centre: tuple[float, float], dx: float, dy: float, sigma: float) -> np.ndarray:
    """Shift the region around `centre` (the nose) by (dx, dy) with a smooth Gaussian falloff: the
    nose moves against eyes and mouth, as in a small head turn (yaw) or nod (pitch)."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    g = np.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2 * sigma**2)).astype(np.float32)
    return cv2.remap(img, xx - dx * g, yy - dy * g, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _side_light(img: np.ndarray, strength: float) -> np.ndarray:
    w = img.shape[1]
    ramp = np.linspace(1 - strength, 1 + strength, w, dtype=np.float32)[None, :, None]
    return np.clip(img * ramp, 0, 255).astype(np.uint8)


def _jpeg(img_bgr: np.ndarray, quality: int = 92, **extra) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img_bgr[..., ::-1]).save(buf, "JPEG", quality=quality, **extra)
    return buf.getvalue()


def _png(img_bgr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img_bgr[..., ::-1]).save(buf, "PNG")
    return buf.getvalue()


def _lfw_face(i: int, size: int = 220) -> np.ndarray:
    """LFW face `i` (0-99 are faces) upscaled and framed on a plain background, BGR."""
    g = (data.lfw_subset()[i] * 255).astype(np.uint8)
    g = cv2.resize(g, (size, size), interpolation=cv2.INTER_CUBIC)
    g = cv2.copyMakeBorder(g, size // 2, size // 2, size // 2, size // 2, cv2.BORDER_CONSTANT, value=140)
    return cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)


def photos(seed: int = 0) -> dict[str, tuple[bytes, str]]:
    """Every demo photo as {file name: (bytes, what it is)}."""
    rng = np.random.default_rng(seed)
    a = _bgr(data.astronaut())  # 512x512, face ~90 px wide around (225, 120)
    nose = (227.0, 130.0)
    out: dict[str, tuple[bytes, str]] = {}

    def put(name: str, payload: bytes, what: str) -> None:
        out[name] = (payload, what)

    # --- the persona, in variants that should be kept (or be near-duplicates of each other)
    put("astronaut.jpg", _jpeg(a), PERSONA)
    put("astronaut_rot_plus25.jpg", _jpeg(_rotate(a, 25)), PERSONA)
    put("astronaut_rot_minus15.jpg", _jpeg(_rotate(a, -15)), PERSONA)
    put("astronaut_mirror.jpg", _jpeg(np.ascontiguousarray(a[:, ::-1])), PERSONA)
    put(
        "astronaut_closeup.png",
        _png(cv2.resize(a[30:290, 100:360], (780, 780), interpolation=cv2.INTER_CUBIC)),
        PERSONA,
    )
    put("astronaut_side_light.webp", _webp(_side_light(a, 0.45)), PERSONA)
    for name, dx, dy in [("turn_left", -9, 0), ("turn_right", 9, 0), ("nod_up", 0, -7), ("nod_down", 0, 7)]:
        img = _side_light(_turn(a, nose, dx, dy, 16.0), float(rng.uniform(-0.2, 0.2)))
        put(f"astronaut_{name}.jpg", _jpeg(img, quality=int(rng.integers(80, 95))), PERSONA)
    put("astronaut_gray.png", _gray_png(a), PERSONA)
    put("astronaut_cmyk.jpg", _cmyk_jpeg(_rotate(a, 8)), PERSONA)
    put("astronaut_exif_rotated.jpg", _exif_rotated_jpeg(a), PERSONA)
    put("astronaut_panorama.jpg", _panorama(a, rng), PERSONA)
    put("astronaut_with_others.jpg", _jpeg(_group(a)), PERSONA)  # keep the astronaut, not the others

    # --- the persona, too poor to keep
    put("astronaut_dark.jpg", _jpeg((a * 0.12).astype(np.uint8)), "persona: dark")
    put("astronaut_blurred.jpg", _jpeg(cv2.GaussianBlur(a, (0, 0), 4.0)), "persona: blurred")
    put("astronaut_tiny.jpg", _jpeg(cv2.resize(a, (150, 150), interpolation=cv2.INTER_AREA)), "persona: tiny")
    occluded = a.copy()
    occluded[118:175, 175:280] = (60, 60, 60)  # a hand/mask over nose and mouth
    put("astronaut_occluded.jpg", _jpeg(occluded), "persona: occluded")

    # --- other people
    for i in (0, 3, 50):
        put(f"other_person_{i:02d}.png", _png(_lfw_face(i)), OTHER)
    put("cameraman.png", _png(cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2BGR)), OTHER)
    put("crowd.jpg", _jpeg(_crowd()), OTHER)

    # --- no face
    put("coffee.jpg", _jpeg(_bgr(data.coffee())), NO_FACE)
    put("chelsea_the_cat.png", _png(_bgr(data.chelsea())), NO_FACE)
    put("rocket.jpg", _jpeg(_bgr(data.rocket())), NO_FACE)

    # --- bad files
    put("shopping_list.jpg", b"eggs, rice, 2 kg of oranges\n", UNREADABLE)
    put("truncated.jpg", _jpeg(a)[:9000], UNREADABLE)
    put("empty.png", b"", UNREADABLE)
    return out


def _webp(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img[..., ::-1]).save(buf, "WEBP", quality=90)
    return buf.getvalue()


def _gray_png(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), mode="L").save(buf, "PNG")
    return buf.getvalue()


def _cmyk_jpeg(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img[..., ::-1]).convert("CMYK").save(buf, "JPEG", quality=92)
    return buf.getvalue()


def _exif_rotated_jpeg(img: np.ndarray) -> bytes:
    """Pixels stored turned 90° clockwise with EXIF orientation 8 (rotate 90° back) — as phones do."""
    stored = cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE)
    exif = Image.Exif()
    exif[0x0112] = 8
    return _jpeg(stored, exif=exif.tobytes())


def _panorama(a: np.ndarray, rng: np.random.Generator) -> bytes:
    """A 7200x1600 landscape strip (coffee, rocket, sky noise) with the astronaut 3x larger in it."""
    h, w = 1600, 7200
    sky = np.linspace(200, 90, h, dtype=np.float32)[:, None, None] * np.array([1.0, 0.9, 0.7], np.float32)
    pano = np.broadcast_to(sky, (h, w, 3)).copy()
    pano += rng.normal(0, 6, (h, w, 1)).astype(np.float32)
    pano = np.clip(pano, 0, 255).astype(np.uint8)
    pano[100:1000, 200:1400] = cv2.resize(_bgr(data.rocket()), (1200, 900))
    big = cv2.resize(a, (1536, 1536), interpolation=cv2.INTER_CUBIC)
    pano[40:1576, 4800:6336] = big[:1536]
    return _jpeg(pano, quality=85)


def _group(a: np.ndarray) -> np.ndarray:
    """The astronaut beside two other people at a similar scale."""
    canvas = np.full((520, 1400, 3), 150, np.uint8)
    canvas[4:516, 444:956] = a
    canvas[80:420, 40:380] = cv2.resize(_lfw_face(3, 200)[0:400, 0:400], (340, 340))
    canvas[80:420, 1020:1360] = cv2.resize(_lfw_face(50, 200)[0:400, 0:400], (340, 340))
    return canvas


def _crowd() -> np.ndarray:
    """Twelve other faces in a grid: a photo with many faces, none the persona's."""
    tiles = [cv2.resize(_lfw_face(i, 120), (180, 180)) for i in range(5, 17)]
    rows = [np.hstack(tiles[r * 4 : r * 4 + 4]) for r in range(3)]
    return np.vstack(rows)


def write_photos(folder: str | Path, seed: int = 0) -> dict[str, str]:
    """Write the demo photos into `folder`; returns {file name: what it is}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name, (payload, what) in photos(seed).items():
        (folder / name).write_bytes(payload)
        manifest[name] = what
    return manifest
