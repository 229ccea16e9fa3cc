"""One consistent pixel convention for every image mode PIL can read.

Everything downstream sees uint8 arrays of shape (H, W, 1) or (H, W, 3). Doing the conversion in one
place is what makes a 16-bit PNG, its 8-bit twin and a palette PNG of the same picture train alike.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# A pixel budget per image: far above any training resolution zap uses (128 px a side at most), far below
# what exhausts memory. A file over it is refused (or skipped) before its pixels are decoded, which is
# also what stops a decompression bomb: a tiny file that declares an enormous canvas.
MAX_IMAGE_PIXELS = 50_000_000
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})


def too_many_pixels(width: int, height: int) -> str | None:
    """Why an image of this size is refused, or None when it is within MAX_IMAGE_PIXELS."""
    if width * height <= MAX_IMAGE_PIXELS:
        return None
    return (f"{width}x{height} = {width * height / 1e6:.0f} megapixels, over zap's limit of "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels per image (zap.data.images.MAX_IMAGE_PIXELS); "
            "downscale it")


def mode_channels(mode: str) -> int:
    """Channels an image of this PIL mode contributes: 1 for gray modes, 3 for everything else."""
    return 1 if mode in GRAY_MODES else 3


def _over_white(img: Image.Image) -> Image.Image:
    """Transparent pixels become white, so icons and emoji on clear canvases look as they display."""
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def pil_to_array(img: Image.Image) -> np.ndarray:
    """Decode a PIL image into uint8 (H, W, C) with C = 1 (gray) or 3 (colour)."""
    mode = img.mode
    if mode in SIXTEEN_BIT_MODES:
        # 16-bit images span 0..65535; dividing by 257 maps 65535 -> 255 and x*257 -> x exactly.
        wide = np.asarray(img, dtype=np.float64) / 257.0
        return np.clip(np.rint(wide), 0, 255).astype(np.uint8)[..., None]
    if mode == "F":
        values = np.nan_to_num(np.asarray(img, dtype=np.float64))
        if values.size and values.max() <= 1.0:
            values = values * 255.0
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)[..., None]
    if mode == "LA":
        return np.asarray(_over_white(img).convert("L"), dtype=np.uint8)[..., None]
    if mode in ("1", "L"):
        return np.asarray(img.convert("L"), dtype=np.uint8)[..., None]
    if mode in ("RGBA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in img.info):
        return np.asarray(_over_white(img), dtype=np.uint8)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def to_channels(array: np.ndarray, channels: int) -> np.ndarray:
    """Gray images in a colour dataset are repeated to 3 channels; colour images shown to a gray model
    become luminance (ITU-R 601, as PIL's "L")."""
    if array.shape[-1] == channels:
        return array
    if array.shape[-1] == 1 and channels == 3:
        return np.repeat(array, 3, axis=-1)
    if array.shape[-1] == 3 and channels == 1:
        luma = array.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        return np.clip(np.rint(luma), 0, 255).astype(np.uint8)[..., None]
    raise ValueError(f"cannot convert an image with {array.shape[-1]} channels to {channels}")


def resize_square(array: np.ndarray, size: int) -> np.ndarray:
    """Resize (H, W, C) uint8 to (size, size, C) with bilinear filtering (antialiased when shrinking)."""
    if array.shape[0] == size and array.shape[1] == size:
        return array
    img = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    out = np.asarray(img.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)
    return out[..., None] if out.ndim == 2 else out
