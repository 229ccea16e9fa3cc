"""Drawing realistic, never-identical samples: text and shapes with font, stroke, affine, blur, noise,
colour and background variation, all driven by one numpy Generator so a seed fixes every pixel."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

SUPERSAMPLE = 2


@dataclass(frozen=True)
class Variation:
    """How strongly samples vary; the difficulty knob of a generated core."""

    rotate: float = 12.0  # degrees, uniform in [-rotate, rotate]
    shear: float = 0.15
    scale: tuple[float, float] = (0.75, 1.05)
    shift: float = 0.08  # fraction of the side
    blur: float = 0.8  # max Gaussian radius in output pixels
    noise: float = 12.0  # max noise std in 0..255 units
    contrast: tuple[float, float] = (0.45, 1.0)  # |fg - bg| / 255
    stroke: int = 1  # max extra stroke width (supersampled px)


@cache
def font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _affine(img: Image.Image, rng: np.random.Generator, var: Variation, fill) -> Image.Image:
    """Random rotation, shear, scale and shift about the centre (inverse map for PIL)."""
    w, h = img.size
    angle = math.radians(rng.uniform(-var.rotate, var.rotate))
    shear = rng.uniform(-var.shear, var.shear)
    scale = rng.uniform(*var.scale)
    tx, ty = rng.uniform(-var.shift, var.shift, 2) * np.array([w, h])
    cos, sin = math.cos(angle), math.sin(angle)
    forward = np.array([[cos, -sin + shear * cos], [sin, cos + shear * sin]]) * scale
    inverse = np.linalg.inv(forward)
    cx, cy = w / 2, h / 2
    offset = np.array([cx, cy]) - inverse @ np.array([cx + tx, cy + ty])
    coeffs = (*inverse[0], offset[0], *inverse[1], offset[1])
    return img.transform(img.size, Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR, fillcolor=fill)


def _finish(img: Image.Image, size: int, rng: np.random.Generator, var: Variation) -> np.ndarray:
    """Downsample, blur and add sensor noise."""
    img = img.resize((size, size), Image.Resampling.BOX)
    radius = rng.uniform(0, var.blur)
    if radius > 0.05:
        img = img.filter(ImageFilter.GaussianBlur(radius))
    array = np.asarray(img, dtype=np.float32)
    array = array + rng.normal(0, rng.uniform(0, var.noise), array.shape).astype(np.float32)
    return np.clip(np.rint(array), 0, 255).astype(np.uint8)


def gray_pair(rng: np.random.Generator, var: Variation) -> tuple[int, int]:
    """Foreground and background gray levels with a random polarity and contrast."""
    contrast = rng.uniform(*var.contrast) * 255
    bg = rng.uniform(0, 255 - contrast)
    fg = bg + contrast
    return (int(fg), int(bg)) if rng.random() < 0.5 else (int(bg), int(fg))


def render_text(
    text: str, font_path: Path, size: int, rng: np.random.Generator, var: Variation, fill_ratio: float = 0.7
) -> np.ndarray:
    """Gray (size, size, 1) rendering of `text` centred, then varied."""
    canvas = size * SUPERSAMPLE
    fg, bg = gray_pair(rng, var)
    img = Image.new("L", (canvas, canvas), bg)
    face = font(str(font_path), max(8, int(canvas * fill_ratio / max(1, len(text)) ** 0.8)))
    ImageDraw.Draw(img).text((canvas / 2, canvas / 2), text, font=face, fill=fg, anchor="mm",
                             stroke_width=int(rng.integers(0, var.stroke + 1)), stroke_fill=fg)
    img = _affine(img, rng, var, bg)
    return _finish(img, size, rng, var)[..., None]


def random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, 3))


def distinct_colours(rng: np.random.Generator, min_distance: float = 120.0) -> tuple[tuple, tuple]:
    while True:
        a, b = random_colour(rng), random_colour(rng)
        if np.linalg.norm(np.subtract(a, b)) >= min_distance:
            return a, b


def finish_colour(img: Image.Image, size: int, rng: np.random.Generator, var: Variation, fill) -> np.ndarray:
    """Affine, downsample, blur and noise for an RGB canvas."""
    return _finish(_affine(img, rng, var, fill), size, rng, var)
