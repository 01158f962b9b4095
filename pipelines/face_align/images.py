"""Decoding photos: any size, EXIF orientation applied, grayscale/CMYK/16-bit/alpha made 8-bit BGR.

A photo that cannot be decoded raises `UnreadablePhoto` with a reason for the report, never a crash.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

try:  # HEIC/HEIF when the optional decoder is installed (pip install pillow-heif)
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF = True
except ImportError:  # pragma: no cover - depends on the environment
    HEIF = False

Image.MAX_IMAGE_PIXELS = 400_000_000  # panoramas are welcome; only decompression bombs are refused
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".bmp", ".tif", ".tiff")


class UnreadablePhoto(Exception):
    """The file is not a decodable image; the message is the report's reason."""


def list_photos(folder: Path) -> list[Path]:
    """Image-named files under `folder` (recursively), sorted; hidden files skipped."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES and not p.name.startswith(".")
    )


def decode(path: Path) -> tuple[np.ndarray, dict]:
    """BGR uint8 pixels of `path` upright (EXIF orientation applied) and facts about the source."""
    if path.suffix.lower() in (".heic", ".heif") and not HEIF:
        raise UnreadablePhoto("HEIC photo but no HEIC decoder: pip install pillow-heif, or export as JPEG")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                fmt, mode = im.format, im.mode
                im.load()
                exif_orientation = im.getexif().get(0x0112, 1)
                im = ImageOps.exif_transpose(im)
                rgb = _to_rgb(im)
    except UnidentifiedImageError:
        raise UnreadablePhoto("not an image (no image decoder recognises the content)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UnreadablePhoto(f"image too large to decode safely ({e})") from None
    except OSError as e:  # truncated or corrupt data
        msg = str(e)
        reason = "truncated image file" if "truncated" in msg else f"corrupt image ({msg})"
        raise UnreadablePhoto(reason) from None
    except (ValueError, SyntaxError) as e:
        raise UnreadablePhoto(f"corrupt image ({e})") from None
    h, w = rgb.shape[:2]
    info = {"format": fmt, "mode": mode, "width": w, "height": h, "exif_orientation": int(exif_orientation)}
    return np.ascontiguousarray(rgb[..., ::-1]), info


def _to_rgb(im: Image.Image) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16/32-bit grayscale: scale to 8 bits
        a = np.asarray(im, dtype=np.float64)
        hi = a.max() or 1.0
        g = np.clip(a / hi * 255.0, 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    return np.asarray(im.convert("RGB"), dtype=np.uint8)
