"""Builders of the core datasets, one per kind of real source. Each returns a `CoreData`.

A builder is a pure function of its parameters and a seed: the same call gives the same bytes.
Test images are held out by the builder: by source item (icon name, drawing, emoji, photo region)
where the source has items, else a stratified share of the generated samples.
"""

from __future__ import annotations

import math
import re
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from zap.data.core import sources
from zap.data.core.render import (
    Variation,
    distinct_colours,
    finish_colour,
    font,
    random_colour,
    render_text,
)
from zap.data.images import pil_to_array
from zap.data.split import stratified_holdout

TEST_RATIO = 0.2


@dataclass
class CoreData:
    x: np.ndarray  # uint8 (N, H, W, C)
    y: np.ndarray  # int64 (N,)
    class_names: list[str]
    test: np.ndarray  # bool (N,): the core's fixed test images

    def __post_init__(self) -> None:
        self.y = np.asarray(self.y, dtype=np.int64)
        self.test = np.asarray(self.test, dtype=bool)


def _stratified_test(y: np.ndarray, seed: int) -> np.ndarray:
    mask = np.zeros(len(y), dtype=bool)
    mask[stratified_holdout(y, TEST_RATIO, len(y), seed)] = True
    return mask


def _generate(classes: Sequence[str], per_class: int, seed: int, draw) -> CoreData:
    """`draw(class_index, rng)` -> one image; every (class, sample) gets its own seeded generator."""
    images, labels = [], []
    for k in range(len(classes)):
        for i in range(per_class):
            rng = np.random.default_rng([seed, k, i])
            images.append(draw(k, rng))
            labels.append(k)
    y = np.asarray(labels)
    return CoreData(np.stack(images), y, list(classes), _stratified_test(y, seed))


# ---------------------------------------------------------------------------------------------- digits


def sklearn_digits(seed: int) -> CoreData:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return CoreData(x, digits.target, [str(d) for d in range(10)], _stratified_test(digits.target, seed))


def opencv_digits(seed: int) -> CoreData:
    """OpenCV's sheet of 5000 handwritten digits: 50 rows x 100 columns of 20x20 cells, 5 rows a digit."""
    path = sources.require(sources.opencv_data() / "digits.png", "opencv-doc")
    sheet = np.asarray(Image.open(path).convert("L"))
    cells = sheet.reshape(50, 20, 100, 20).transpose(0, 2, 1, 3).reshape(5000, 20, 20)
    y = np.repeat(np.arange(10), 500)
    return CoreData(cells[..., None], y, [str(d) for d in range(10)], _stratified_test(y, seed))


# ------------------------------------------------------------------------------------------ characters

SCRIPT_RANGES: dict[str, tuple[str, list[tuple[int, int]]]] = {
    # script: (font family stem, codepoint ranges of its letters)
    "greek": ("", [(0x0391, 0x03A9), (0x03B1, 0x03C9)]),
    "cyrillic": ("", [(0x0410, 0x044F)]),
    "armenian": ("Armenian", [(0x0531, 0x0556)]),
    "hebrew": ("Hebrew", [(0x05D0, 0x05EA)]),
    "arabic": ("Arabic", [(0x0627, 0x064A)]),
    "devanagari": ("Devanagari", [(0x0905, 0x0939)]),
    "bengali": ("Bengali", [(0x0985, 0x09B9)]),
    "thai": ("Thai", [(0x0E01, 0x0E2E)]),
    "georgian": ("Georgian", [(0x10D0, 0x10FA)]),
    "ethiopic": ("Ethiopic", [(0x1200, 0x1248)]),
}
LATIN = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SYMBOL_FONTS = ("StandardSymbolsPS", "D050000L")


DEJAVU_CORE = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf",
               "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf")  # exactly fonts-dejavu-core: same bytes everywhere
NOTO_STYLES = ("Regular", "Bold")


def _files(folder: Path, names: Sequence[str], package: str) -> list[Path]:
    return [sources.require(folder / name, package) for name in names]


def noto_family(family: str, styles: Sequence[str] = NOTO_STYLES) -> list[Path]:
    """NotoSans<family> and NotoSerif<family> in the given styles, those fonts-noto-core ships."""
    found = [sources.NOTO / f"Noto{kind}{family}-{style}.ttf" for kind in ("Sans", "Serif") for style in styles]
    found = [f for f in found if f.exists()]
    if not found:
        raise sources.MissingSourceError(
            f"no NotoSans{family} fonts under {sources.NOTO}: they come from the Debian package fonts-noto-core; "
            f"{sources.INSTALL_HINT}")
    return found


def latin_fonts() -> list[Path]:
    """Text fonts with Latin letters from fixed files: DejaVu core, URW base35 (no symbol fonts), Noto."""
    fonts = _files(sources.DEJAVU, DEJAVU_CORE, "fonts-dejavu-core")
    fonts += [f for f in sources.require_glob(sources.URW, "*.otf", "fonts-urw-base35")
              if not f.name.startswith(SYMBOL_FONTS)]
    return fonts + noto_family("", ("Regular", "Bold", "Italic", "BoldItalic"))


def script_fonts(stem: str) -> list[Path]:
    """Noto Sans/Serif regular and bold of a script (Greek and Cyrillic: plain Noto and DejaVu)."""
    if not stem:
        return _files(sources.DEJAVU, DEJAVU_CORE, "fonts-dejavu-core") + noto_family("")
    return noto_family(stem)


def covered(chars: Sequence[str], fonts: Sequence[Path]) -> list[str]:
    """The characters every one of `fonts` can draw (so no class is a blank box in some font)."""
    common = set.intersection(*(set(sources.codepoints(f)) for f in fonts))
    drawable = [c for c in chars if ord(c) in common]
    if len(drawable) < 2:
        raise sources.MissingSourceError(f"the fonts {[f.name for f in fonts]} share fewer than 2 of the characters")
    return drawable


def characters(script: str, per_class: int, seed: int, var: Variation, size: int = 32) -> CoreData:
    stem, ranges = SCRIPT_RANGES[script]
    fonts = script_fonts(stem)
    chars = covered([chr(c) for lo, hi in ranges for c in range(lo, hi + 1)], fonts)

    def draw(k: int, rng: np.random.Generator) -> np.ndarray:
        return render_text(chars[k], fonts[rng.integers(len(fonts))], size, rng, var)

    return _generate(chars, per_class, seed, draw)


def latin_characters(per_class: int, seed: int, var: Variation, size: int = 32) -> CoreData:
    """Digits and capitals 0-9A-Z (36 classes; with lower case, 62 classes were hopeless at 20 CPU-s)."""
    fonts = latin_fonts()
    chars = covered(LATIN[:36], fonts)

    def draw(k: int, rng: np.random.Generator) -> np.ndarray:
        return render_text(chars[k], fonts[rng.integers(len(fonts))], size, rng, var)

    return _generate(chars, per_class, seed, draw)


def font_identification(per_class: int, seed: int, var: Variation, size: int = 48) -> CoreData:
    """Which URW base35 family (Nimbus Sans, C059, URW Bookman, ...) set these letters? Upright
    regular styles only: at 32-48 px, telling the families apart through weight and slant is hopeless."""
    files = [f for f in sources.require_glob(sources.URW, "*.otf", "fonts-urw-base35")
             if not f.name.startswith(SYMBOL_FONTS)]
    families = sorted({f.stem.split("-")[0] for f in files})
    upright = [f for f in files if not re.search(r"Bold|Italic|Oblique|Demi|Bd", f.stem)] + [
        f for f in files if f.stem.startswith("Z003")]  # Zapf Chancery comes only in medium italic
    members = [[f for f in upright if f.stem.split("-")[0] == family] for family in families]

    def draw(k: int, rng: np.random.Generator) -> np.ndarray:
        text = "".join(rng.choice(list(LATIN[10:]), int(rng.integers(2, 4))))
        return render_text(text, members[k][rng.integers(len(members[k]))], size, rng, var, fill_ratio=0.95)

    return _generate(families, per_class, seed, draw)


SCRIPT_ID_EXCLUDE = re.compile(r"(Symbols|Math|Music|Display|Mono|Unjoined|Supplement|Numbers|Tifinagh.+|Looped)")


def script_identification(n_scripts: int, per_class: int, seed: int, var: Variation, size: int = 32) -> CoreData:
    """Which writing system is this random letter from? One Noto family per script."""
    regular = sources.require_glob(sources.NOTO, "NotoSans?*-Regular.ttf", "fonts-noto-core")
    fonts = [f for f in regular if not SCRIPT_ID_EXCLUDE.search(f.stem) and f.stem != "NotoSans-Regular"]
    scripts = []
    for f in fonts:  # letters only (no marks, digits or punctuation), outside Latin and the symbol blocks
        letters = [c for c in sources.codepoints(f) if c > 0x036F and not 0x2000 <= c <= 0x2BFF
                   and not 0xE000 <= c <= 0xF8FF and unicodedata.category(chr(c)).startswith("L")]
        if len(letters) >= 20:
            scripts.append((f.stem.removeprefix("NotoSans").removesuffix("-Regular"), f, sorted(letters)))
    picked = [scripts[i] for i in np.sort(np.random.default_rng(seed).permutation(len(scripts))[:n_scripts])]

    def draw(k: int, rng: np.random.Generator) -> np.ndarray:
        _, path, letters = picked[k]
        return render_text(chr(rng.choice(letters)), path, size, rng, var, fill_ratio=0.85)

    return _generate([name for name, _, _ in picked], per_class, seed, draw)


# ----------------------------------------------------------------------------------------------- emoji


def emoji_table(level: str) -> list[tuple[str, str]]:
    """(emoji, group or subgroup) for single-codepoint, fully-qualified emoji of emoji-test.txt."""
    path = sources.require(sources.EMOJI_TEST, "unicode-data")
    group = subgroup = ""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif line.startswith("# subgroup:"):
            subgroup = line.split(":", 1)[1].strip()
        elif "; fully-qualified" in line:
            points = [int(p, 16) for p in line.split(";")[0].split() if p != "FE0F"]
            if len(points) == 1 and group != "Component":
                rows.append((chr(points[0]), group if level == "group" else subgroup))
    return rows


@dataclass(frozen=True)
class EmojiTask:
    level: str  # "group" or "subgroup"
    min_per_class: int
    renders_per_emoji: int
    split_by_emoji: bool


def emoji(task: EmojiTask, seed: int, var: Variation, size: int = 48) -> CoreData:
    """Colour emoji by Unicode group or subgroup (Noto Color Emoji draws only at 109 px)."""
    face = font(str(sources.require(sources.EMOJI_FONT, "fonts-noto-color-emoji")), 109)
    have = sources.codepoints(sources.EMOJI_FONT)
    table = [(e, c) for e, c in emoji_table(task.level) if ord(e) in have]
    counts: dict[str, int] = {}
    for _, c in table:
        counts[c] = counts.get(c, 0) + 1
    classes = sorted(c for c, n in counts.items() if n >= task.min_per_class)
    table = [(e, classes.index(c)) for e, c in table if c in classes]
    rng_split = np.random.default_rng(seed)
    held_out = {e for e, _ in table if rng_split.random() < TEST_RATIO} if task.split_by_emoji else set()
    images, labels, test = [], [], []
    for i, (symbol, k) in enumerate(table):
        for r in range(task.renders_per_emoji):
            rng = np.random.default_rng([seed, i, r])
            images.append(_emoji_image(symbol, face, rng, var, size))
            labels.append(k)
            test.append(symbol in held_out if task.split_by_emoji else False)
    y = np.asarray(labels)
    mask = np.asarray(test) if task.split_by_emoji else _stratified_test(y, seed)
    return CoreData(np.stack(images), y, classes, mask)


def emoji_identity(n_classes: int, per_class: int, seed: int, var: Variation, size: int = 48) -> CoreData:
    """Which of `n_classes` emoji (drawn across all groups) is this rendering? Backgrounds, placement and
    distortion vary; the many-class core of the registry."""
    face = font(str(sources.require(sources.EMOJI_FONT, "fonts-noto-color-emoji")), 109)
    have = sources.codepoints(sources.EMOJI_FONT)
    table = [e for e, _ in emoji_table("group") if ord(e) in have]
    chosen = [table[i] for i in np.sort(np.random.default_rng(seed).permutation(len(table))[:n_classes])]

    def draw(k: int, rng: np.random.Generator) -> np.ndarray:
        return _emoji_image(chosen[k], face, rng, var, size)

    return _generate([f"U+{ord(e):04X}" for e in chosen], per_class, seed, draw)


def _emoji_image(symbol: str, face, rng: np.random.Generator, var: Variation, size: int) -> np.ndarray:
    bg = random_colour(rng)
    canvas = Image.new("RGBA", (136, 136), (*bg, 255))
    layer = Image.new("RGBA", (136, 136), (0, 0, 0, 0))
    ImageDraw.Draw(layer).text((68, 68), symbol, font=face, embedded_color=True, anchor="mm")
    return finish_colour(Image.alpha_composite(canvas, layer).convert("RGB"), size, rng, var, bg)


# ----------------------------------------------------------------------------------------------- icons

ICON_CATEGORIES = ("actions", "categories", "devices", "emblems", "emotes", "mimetypes", "places", "status")


def icons(renders: int, seed: int, var: Variation, size: int = 32) -> CoreData:
    """Adwaita icon category (actions, devices, places, ...), test icons never seen in training."""
    by_name: dict[tuple[int, str], list[Path]] = {}
    for k, category in enumerate(ICON_CATEGORIES):
        files = sources.require_glob(sources.ADWAITA, f"*/{category}/*.png", "adwaita-icon-theme")
        for f in files:
            if f.parent.parent.name in ("8x8", "256x256", "512x512"):
                continue
            by_name.setdefault((k, f.name.split(".")[0].removesuffix("-symbolic")), []).append(f)
    names = sorted(by_name)
    held_out = set(np.random.default_rng(seed).permutation(len(names))[: int(TEST_RATIO * len(names))].tolist())
    images, labels, test = [], [], []
    for i, (k, _) in enumerate(names):
        files = sorted(by_name[names[i]])
        for r in range(renders):
            rng = np.random.default_rng([seed, i, r])
            with Image.open(files[rng.integers(len(files))]) as icon:
                icon = icon.convert("RGBA").resize((96, 96), Image.Resampling.BILINEAR)
            bg = int(rng.integers(150, 256)) if rng.random() < 0.7 else int(rng.integers(0, 100))
            canvas = Image.new("RGBA", (128, 128), (bg, bg, bg, 255))
            canvas.alpha_composite(icon, (16, 16))
            images.append(finish_colour(canvas.convert("L"), size, rng, var, bg)[..., None])
            labels.append(k)
            test.append(i in held_out)
    return CoreData(np.stack(images), np.asarray(labels), list(ICON_CATEGORIES), np.asarray(test))


# ------------------------------------------------------------------- cut-outs: clip art, stamps, icon themes

Item = tuple[str, tuple[Path, ...]]  # (item key, its renditions: sizes of one icon, say)
MAX_PIXELS = 4_000_000  # a few clip-art posters are 100+ megapixels; decoding them would dominate the build
CUTOUT_FILL = 0.8  # the longest side of a cut-out at scale 1, as a share of the canvas
MIN_ITEMS = 5  # a class needs this many items to hold one out and still train on several
BACKGROUNDS = ("plain", "gradient", "texture", "photo")


@dataclass(frozen=True)
class CutoutTask:
    """How many images to draw of a class's items, and at what size."""

    per_class: int  # images per class, spread evenly over the class's items
    max_items: int = 150  # items per class at most (a seeded choice), so no folder dominates the build
    size: int = 48
    backgrounds: int = len(BACKGROUNDS)  # the first n kinds of BACKGROUNDS, from plain to busy


def _item_key(path: Path) -> str:
    """Numbered near-copies share a key ('ladybug_01', 'ladybug_02' -> 'ladybug'), so a split by key keeps
    them on one side."""
    return re.sub(r"[\W_]*\d+$", "", path.stem.lower()) or path.stem.lower()


def _small_enough(path: Path) -> bool:
    with warnings.catch_warnings():  # PIL warns about the posters as possible decompression bombs
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as img:  # reads the header only
                return img.size[0] * img.size[1] <= MAX_PIXELS
        except Image.DecompressionBombError:
            return False


def folder_items(root: Path, patterns: Sequence[str], package: str) -> list[Item]:
    """Items from the PNGs matching `patterns` under `root`, near-copies grouped by `_item_key`."""
    files = sorted({f for pattern in patterns for f in sources.require_glob(root, pattern, package)})
    grouped: dict[str, list[Path]] = {}
    for f in files:
        if _small_enough(f):
            grouped.setdefault(_item_key(f), []).append(f)
    return [(key, tuple(grouped[key])) for key in sorted(grouped)]


def _pixel_size(relative: Path) -> int | None:
    """The icon size a theme folder names ('48x48' or '48'), or None for 'scalable', 'symbolic', ..."""
    for part in relative.parts:
        if match := re.fullmatch(r"(\d+)(x\d+)?", part):
            return int(match.group(1))
    return None


def theme_items(theme: str, categories: Sequence[str] = ICON_CATEGORIES,
                sizes: tuple[int, int] = (32, 128)) -> dict[str, list[Item]]:
    """Full-colour icons of a PNG theme by category: item = icon name, renditions = its sizes in `sizes`.
    Links are skipped (they alias one drawing under several names, even across categories), and so are
    symbolic (monochrome) icons. A category with fewer than `MIN_ITEMS` icons is left out."""
    root, package = sources.ICON_THEMES[theme]
    by_category: dict[str, dict[str, list[Path]]] = {c: {} for c in categories}
    for f in sources.require_glob(root, "**/*.png", package):
        relative = f.relative_to(root)
        size = _pixel_size(relative)
        category = next((c for c in relative.parts if c in by_category or c == "mimes"), None)
        if f.is_symlink() or "symbolic" in f.name or size is None or not sizes[0] <= size <= sizes[1] or not category:
            continue
        category = "mimetypes" if category == "mimes" else category  # elementary's folder name
        by_category[category].setdefault(f.name.split(".")[0], []).append(f)
    return {c: [(name, tuple(sorted(files))) for name, files in sorted(items.items())]
            for c, items in by_category.items() if len(items) >= MIN_ITEMS}


def _load_cutout(path: Path, side: int) -> Image.Image:
    """The drawing cropped to its opaque part, at most `side` px (kept larger than the canvas needs)."""
    with Image.open(path) as img:
        rgba = img.convert("RGBA")
    box = rgba.getchannel("A").getbbox()
    rgba = rgba.crop(box) if box else rgba
    rgba.thumbnail((side, side), Image.Resampling.LANCZOS)
    return rgba


@cache
def _backdrop_photos() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_sample_images

    return tuple(load_sample_images().images)  # two photos every scikit-learn install ships


def _background(side: int, kinds: int, rng: np.random.Generator) -> Image.Image:
    """One of the first `kinds` BACKGROUNDS: a plain colour, a gradient, a procedural texture in two close
    colours, or a blurred photo crop."""
    kind = BACKGROUNDS[rng.integers(kinds)]
    if kind == "plain":
        return Image.new("RGB", (side, side), random_colour(rng))
    if kind == "photo":
        photos = _backdrop_photos()
        photo = photos[rng.integers(len(photos))]
        crop = int(rng.integers(side, min(photo.shape[:2])))
        top, left = (int(rng.integers(0, n - crop + 1)) for n in photo.shape[:2])
        patch = Image.fromarray(photo[top:top + crop, left:left + crop]).resize((side, side), Image.Resampling.BOX)
        return patch.filter(ImageFilter.GaussianBlur(rng.uniform(0, 2)))
    field = _texture_field("gradient" if kind == "gradient" else TEXTURES[rng.integers(len(TEXTURES))], side, rng)
    a, b = np.array(random_colour(rng), dtype=float), np.array(random_colour(rng), dtype=float)
    if kind == "texture":
        b = np.clip(a + rng.normal(0, 40, 3), 0, 255)  # a texture that does not drown the object
    return Image.fromarray(np.clip(np.rint(b + (a - b) * field[..., None]), 0, 255).astype(np.uint8))


def _composite(cutout: Image.Image, task: CutoutTask, rng: np.random.Generator, var: Variation) -> np.ndarray:
    """The cut-out flipped, rotated, scaled and placed on a background; then blur and noise."""
    side = 2 * task.size
    canvas = _background(side, task.backgrounds, rng)
    if rng.random() < 0.5:
        cutout = cutout.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    longest = max(4, int(side * CUTOUT_FILL * rng.uniform(*var.scale)))
    ratio = longest / max(cutout.size)
    placed = cutout.resize((max(1, round(cutout.width * ratio)), max(1, round(cutout.height * ratio))),
                           Image.Resampling.BILINEAR)
    placed = placed.rotate(rng.uniform(-var.rotate, var.rotate), Image.Resampling.BILINEAR, expand=True)
    dx, dy = rng.uniform(-var.shift, var.shift, 2) * side
    canvas.paste(placed, (int((side - placed.width) / 2 + dx), int((side - placed.height) / 2 + dy)), placed)
    flat = replace(var, rotate=0.0, shear=0.0, scale=(1.0, 1.0), shift=0.0)  # geometry is done, on the cut-out
    return finish_colour(canvas, task.size, rng, flat, (0, 0, 0))


def cutouts(classes: dict[str, list[Item]], task: CutoutTask, seed: int, var: Variation) -> CoreData:
    """Class = a folder or category of drawings; test images show items never seen in training.

    Per class, at most `max_items` items are kept (a seeded choice) and a fifth of them (at least one)
    held out; the `per_class` images cycle through the items, so every item is drawn about equally often."""
    sparse = [name for name, items in classes.items() if len(items) < 2]
    if sparse or len(classes) < 2:
        raise sources.MissingSourceError(
            f"classes {sparse or list(classes)} have fewer than 2 drawings (too few to hold one out): the installed "
            f"source package lacks them; {sources.INSTALL_HINT}")
    split = np.random.default_rng(seed)
    loaded: dict[Path, Image.Image] = {}
    images, labels, test = [], [], []
    for k, name in enumerate(classes):
        items = [classes[name][i] for i in split.permutation(len(classes[name]))[: task.max_items]]
        n_test = max(1, round(TEST_RATIO * len(items)))
        for j in range(task.per_class):
            rng = np.random.default_rng([seed, k, j])
            files = items[j % len(items)][1]
            path = files[rng.integers(len(files))]
            if path not in loaded:
                loaded[path] = _load_cutout(path, 4 * task.size)
            images.append(_composite(loaded[path], task, rng, var))
            labels.append(k)
            test.append(j % len(items) < n_test)
    return CoreData(np.stack(images), np.asarray(labels), list(classes), np.asarray(test))


FolderClasses = tuple[tuple[str, tuple[str, ...]], ...]  # (class, glob patterns under the source folder)
CLIPART_CATEGORY: FolderClasses = (
    ("animals", ("animals/**/*.png",)), ("food", ("food/**/*.png",)), ("plants", ("plants/**/*.png",)),
    ("vehicles", ("transportation/*.png", "transportation/vehicles/*.png")),
    ("buildings", ("buildings/*.png", "buildings/homes/*.png")),
    ("people", ("people/*.png",)), ("clothing", ("people/clothing/*.png",)), ("music", ("recreation/music/*.png",)),
)  # openclipart's tools and sports folders are left out: grab-bags (pipes, bricks, trophies, stick figures)
CLIPART_FOOD: FolderClasses = tuple(
    (kind.split("_")[0], (f"food/{kind}/*.png",))
    for kind in ("beverages", "breads_and_carbs", "desserts", "fruit", "meats_and_eggs", "vegetables"))
CLIPART_PLANTS: FolderClasses = (  # the classes of STAMPS_PLANTS, drawn instead of photographed
    ("fruit", ("food/fruit/*.png",)), ("vegetables", ("food/vegetables/*.png",)),
    ("flowers", ("plants/flowers/*.png",)), ("trees", ("plants/trees/*.png",)),
)
STAMPS_CATEGORY: FolderClasses = tuple(
    (kind, (f"{kind}/**/*.png",))
    for kind in ("animals", "food", "plants", "vehicles", "town", "household", "clothes", "hobbies", "space",
                 "sports"))
STAMPS_ANIMALS: FolderClasses = (
    ("birds", ("animals/birds/**/*.png",)), ("fish", ("animals/fish/*.png",)),
    ("insects", ("animals/insects/**/*.png",)),
    ("mammals", ("animals/mammals/**/*.png", "animals/marsupials/**/*.png")),
)
STAMPS_PLANTS: FolderClasses = (
    ("fruit", ("food/fruit/**/*.png",)), ("vegetables", ("food/vegetables/*.png",)),
    ("flowers", ("plants/flowers/**/*.png",)), ("trees", ("plants/trees/*.png",)),
)


def folder_cutouts(root: Path, package: str, classes: FolderClasses, task: CutoutTask, seed: int,
                   var: Variation) -> CoreData:
    """Clip art or stamps: one class per group of folders."""
    items = {name: folder_items(root, patterns, package) for name, patterns in classes}
    return cutouts(items, task, seed, var)


def clipart(classes: FolderClasses, task: CutoutTask, seed: int, var: Variation) -> CoreData:
    return folder_cutouts(sources.OPENCLIPART, "openclipart-png", classes, task, seed, var)


def stamps(classes: FolderClasses, task: CutoutTask, seed: int, var: Variation) -> CoreData:
    return folder_cutouts(sources.STAMPS, "tuxpaint-stamps-default", classes, task, seed, var)


def icon_theme(theme: str, task: CutoutTask, seed: int, var: Variation) -> CoreData:
    """Icon category (as `icons-adwaita`) in another theme's style, in colour; unseen icons in test."""
    return cutouts(theme_items(theme), task, seed, var)


def icon_theme_identity(themes: Sequence[str], task: CutoutTask, seed: int, var: Variation) -> CoreData:
    """Which theme drew this icon? Items are icon names (all categories); test icons are names not
    drawn in training for that theme."""
    classes = {t: sorted(item for items in theme_items(t).values() for item in items) for t in themes}
    return cutouts(classes, task, seed, var)


# ---------------------------------------------------------------------------------------------- photos

PHOTOS = ("aero1", "aero3", "aloeL", "apple", "baboon", "building", "butterfly", "fruits", "HappyFish", "home",
          "leuvenA", "messi5", "orange", "squirrel_cls", "starry_night", "stuff", "board", "blox", "graf1")


def photo_files() -> list[tuple[str, Path]]:
    from importlib.resources import files

    import matplotlib
    from sklearn.datasets import load_sample_images

    folder = sources.opencv_data()
    found = [(name, folder / f"{name}.jpg") for name in PHOTOS if (folder / f"{name}.jpg").exists()]
    if len(found) < 10:
        sources.require(folder / "baboon.jpg", "opencv-doc")
    sklearn_folder = Path(load_sample_images.__code__.co_filename).parent / "images"
    found += [(p.stem, p) for p in sorted(sklearn_folder.glob("*.jpg"))]
    found += [(n, Path(str(files("zap") / "assets" / f"{n}.jpg"))) for n in ("chelsea", "coffee")]
    found.append(("grace_hopper", Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    return found


def photo_patches(per_class: int, seed: int, size: int = 64) -> CoreData:
    """Which photo is this patch from? Training patches from the left 75 % of each photo, test
    patches from the right 25 %, so no test pixel was ever seen in training."""
    photos = photo_files()
    images, labels, test = [], [], []
    for k, (_, path) in enumerate(photos):
        picture = pil_to_array(Image.open(path))
        picture = np.repeat(picture, 3, axis=-1) if picture.shape[-1] == 1 else picture
        h, w = picture.shape[:2]
        cut = int(0.75 * w)
        for i in range(per_class):
            rng = np.random.default_rng([seed, k, i])
            is_test = i >= int((1 - TEST_RATIO) * per_class)
            lo, hi = (cut, w) if is_test else (0, cut)
            side = int(min(h, hi - lo) * rng.uniform(0.35, 0.9))
            top, left = rng.integers(0, h - side + 1), rng.integers(lo, hi - side + 1)
            patch = Image.fromarray(picture[top:top + side, left:left + side]).resize(
                (size, size), Image.Resampling.BILINEAR)
            if rng.random() < 0.5:
                patch = patch.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            noisy = np.asarray(patch, np.float32) + rng.normal(0, rng.uniform(0, 8), (size, size, 3))
            images.append(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))
            labels.append(k)
            test.append(is_test)
    return CoreData(np.stack(images), np.asarray(labels), [n for n, _ in photos], np.asarray(test))


# ------------------------------------------------------------------------------------------ procedural

SHAPES = ("circle", "ellipse", "triangle", "square", "rectangle", "pentagon", "hexagon", "star", "cross", "ring",
          "diamond", "arrow")


def _polygon(n: int, radius: float, c: float, phase: float = -math.pi / 2) -> list[tuple[float, float]]:
    return [(c + radius * math.cos(phase + 2 * math.pi * i / n), c + radius * math.sin(phase + 2 * math.pi * i / n))
            for i in range(n)]


def _draw_shape(draw: ImageDraw.ImageDraw, name: str, c: float, r: float, fill) -> None:
    if name == "circle":
        draw.ellipse([c - r, c - r, c + r, c + r], fill=fill)
    elif name == "ellipse":
        draw.ellipse([c - r, c - r * 0.55, c + r, c + r * 0.55], fill=fill)
    elif name == "ring":
        draw.ellipse([c - r, c - r, c + r, c + r], outline=fill, width=max(2, int(r * 0.3)))
    elif name == "rectangle":
        draw.rectangle([c - r, c - r * 0.5, c + r, c + r * 0.5], fill=fill)
    elif name == "square":
        draw.rectangle([c - r * 0.8, c - r * 0.8, c + r * 0.8, c + r * 0.8], fill=fill)
    elif name == "cross":
        draw.rectangle([c - r, c - r * 0.28, c + r, c + r * 0.28], fill=fill)
        draw.rectangle([c - r * 0.28, c - r, c + r * 0.28, c + r], fill=fill)
    elif name == "star":
        outer, inner = _polygon(5, r, c), _polygon(5, r * 0.42, c, -math.pi / 2 + math.pi / 5)
        draw.polygon([p for pair in zip(outer, inner, strict=True) for p in pair], fill=fill)
    elif name == "arrow":
        draw.polygon([(c - r, c - r * 0.25), (c + r * 0.2, c - r * 0.25), (c + r * 0.2, c - r * 0.6), (c + r, c),
                      (c + r * 0.2, c + r * 0.6), (c + r * 0.2, c + r * 0.25), (c - r, c + r * 0.25)], fill=fill)
    else:
        sides = {"triangle": 3, "diamond": 4, "pentagon": 5, "hexagon": 6}[name]
        draw.polygon(_polygon(sides, r, c, 0.0 if name == "diamond" else -math.pi / 2), fill=fill)


def shapes(per_class: int, seed: int, var: Variation, size: int = 32) -> CoreData:
    """Geometric shapes in random colours on random backgrounds, with clutter."""

    def draw(k: int, rng: np.random.Generator) -> np.ndarray:
        canvas = size * 4
        fg, bg = distinct_colours(rng)
        img = Image.new("RGB", (canvas, canvas), bg)
        pen = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(0, 4))):  # clutter: small blobs and lines
            x, y = rng.uniform(0, canvas, 2)
            pen.line([x, y, *rng.uniform(0, canvas, 2)], fill=random_colour(rng), width=int(rng.integers(1, 4)))
        _draw_shape(pen, SHAPES[k], canvas / 2, canvas * rng.uniform(0.22, 0.4), fg)
        return finish_colour(img, size, rng, var, bg)

    return _generate(SHAPES, per_class, seed, draw)


TEXTURES = ("stripes_h", "stripes_v", "stripes_diag", "checker", "dots", "grid", "waves", "rings", "noise_fine",
            "noise_blobs", "gradient", "bricks", "zigzag", "crosshatch")


def _texture_field(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """A [0, 1] intensity field of one texture family with random frequency and phase."""
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64) / n
    f = rng.uniform(3, 9)
    p = rng.uniform(0, 2 * np.pi)
    square = lambda v: (np.sin(2 * np.pi * f * v + p) > 0).astype(float)  # noqa: E731
    if name == "stripes_h":
        return square(yy)
    if name == "stripes_v":
        return square(xx)
    if name == "stripes_diag":
        return square((xx + yy) / 1.4)
    if name == "checker":
        return (square(xx) + square(yy)) % 2
    if name == "dots":
        return ((np.sin(2 * np.pi * f * xx + p) * np.sin(2 * np.pi * f * yy + p)) > 0.55).astype(float)
    if name == "grid":
        return np.maximum(np.sin(2 * np.pi * f * xx + p) > 0.8, np.sin(2 * np.pi * f * yy + p) > 0.8).astype(float)
    if name == "waves":
        return square(yy + 0.08 * np.sin(2 * np.pi * f * 0.5 * xx + p))
    if name == "rings":
        return square(np.hypot(xx - rng.uniform(0.3, 0.7), yy - rng.uniform(0.3, 0.7)))
    if name == "noise_fine":
        return rng.random((n, n))
    if name == "noise_blobs":
        from scipy.ndimage import gaussian_filter

        field = gaussian_filter(rng.random((n, n)), sigma=n / rng.uniform(6, 12))
        return (field - field.min()) / max(1e-9, np.ptp(field))
    if name == "gradient":
        angle = rng.uniform(0, 2 * np.pi)
        field = np.cos(angle) * xx + np.sin(angle) * yy
        return (field - field.min()) / max(1e-9, np.ptp(field))
    if name == "bricks":
        rows = np.floor(yy * f)
        shifted = xx * f / 2 + 0.5 * (rows % 2)
        return ((np.abs(np.sin(np.pi * yy * f)) > 0.15) & (np.abs(np.sin(np.pi * shifted)) > 0.15)).astype(float)
    if name == "zigzag":
        return square(yy + np.abs(((xx * f) % 1) - 0.5) / f)
    return np.maximum(square((xx + yy) / 1.4), square((xx - yy) / 1.4))  # crosshatch


def textures(per_class: int, seed: int, var: Variation, size: int = 64) -> CoreData:
    def draw(k: int, rng: np.random.Generator) -> np.ndarray:
        n = size * 2
        field = _texture_field(TEXTURES[k], n, rng)[..., None]
        a, b = (np.array(c, dtype=float) for c in distinct_colours(rng, 90.0))
        img = Image.fromarray(np.clip(np.rint(b + (a - b) * field), 0, 255).astype(np.uint8))
        return finish_colour(img, size, rng, var, tuple(int(v) for v in b))

    return _generate(TEXTURES, per_class, seed, draw)
