"""The registry of core datasets: name -> source, domain, licence and a deterministic builder.

Cores of one generator (one per script, say) are near-twins: `domain` groups them so a benchmark
can leave a whole domain out. Difficulty (`Variation`, samples per class; for cut-outs also the
backgrounds) was calibrated so the `recommended` pipeline lands clearly above chance and below 0.99:
v1's cores at 20 CPU-seconds, the cut-out cores added for v2 at 60 (docs/datasets.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from zap.data.core import generators as g
from zap.data.core.render import Variation
from zap.data.errors import DataError

NOTO = "Debian fonts-noto-core (SIL OFL 1.1)"
GLYPH = Variation()
MILD_GLYPH = Variation(rotate=6, shear=0.08, scale=(0.85, 1.05), shift=0.05, blur=0.5, noise=6, contrast=(0.6, 1.0))
TYPESET = Variation(rotate=0, shear=0, scale=(0.9, 1.0), shift=0.03, blur=0.3, noise=4, contrast=(0.6, 1.0), stroke=0)
MILD_COLOUR = Variation(rotate=10, shear=0.08, scale=(0.8, 1.05), shift=0.06, blur=0.4, noise=5)
COLOUR = Variation(rotate=25, shear=0.15, scale=(0.7, 1.1), shift=0.1, blur=0.7, noise=10)
CUTOUT = Variation(rotate=15, shear=0.0, scale=(0.6, 1.05), shift=0.12, blur=0.6, noise=8)
MILD_CUTOUT = Variation(rotate=8, shear=0.0, scale=(0.85, 1.1), shift=0.05, blur=0.3, noise=4)
# How busy a cut-out core's images are, the calibration knob of `_cutouts`: BUSY (CUTOUT, any background),
# CALM (MILD_CUTOUT, plain and gradient backgrounds) or PLAIN (MILD_CUTOUT, plain colours only).
BUSY: dict = {}
CALM = {"mild": True}
PLAIN = {"mild": True, "backgrounds": 1}


@dataclass(frozen=True)
class CoreSpec:
    name: str
    domain: str
    source: str
    license: str
    resolution: int
    channels: int
    build: Callable[[int], g.CoreData]
    description: str


def _cutouts(builder: Callable, source, per_class: int, mild: bool = False, **task) -> Callable[[int], g.CoreData]:
    """A cut-out builder (`g.clipart`, `g.stamps`, `g.icon_theme`, ...) with strong variation on any
    background, or (`mild`) little variation on calm ones, for the sources whose classes are harder to tell."""
    task = {"backgrounds": 2 if mild else len(g.BACKGROUNDS)} | task
    return partial(builder, source, g.CutoutTask(per_class, **task), var=MILD_CUTOUT if mild else CUTOUT)


def _chars(script: str, per_class: int = 120, var: Variation = GLYPH) -> Callable[[int], g.CoreData]:
    return partial(g.characters, script, per_class, var=var)


CORE_SPECS: tuple[CoreSpec, ...] = (
    CoreSpec("digits-sklearn", "handwriting", "scikit-learn load_digits (UCI optical digits)", "BSD-3-Clause",
             8, 1, g.sklearn_digits, "1797 real handwritten digits, 8x8, 17 gray levels"),
    CoreSpec("digits-opencv", "handwriting", "Debian opencv-doc examples/data/digits.png", "Apache-2.0", 20, 1,
             g.opencv_digits, "5000 real handwritten digits cut from OpenCV's 20x20 sheet"),
    CoreSpec("chars-latin", "characters", "DejaVu, URW base35 and Noto fonts (Debian)", "OFL / AGPL+font exc.",
             32, 1, partial(g.latin_characters, 600, var=MILD_GLYPH),
             "36 classes 0-9, A-Z in 44 typefaces"),
    *(CoreSpec(f"chars-{script}", "characters", NOTO, "OFL-1.1", 32, 1, _chars(script, var=var),
               f"{script} letters, one class per letter, Noto Sans/Serif regular and bold")
      for script, var in (("greek", MILD_GLYPH), ("cyrillic", MILD_GLYPH), ("armenian", GLYPH),
                          ("hebrew", GLYPH), ("arabic", GLYPH), ("devanagari", MILD_GLYPH), ("bengali", GLYPH),
                          ("thai", MILD_GLYPH), ("georgian", GLYPH), ("ethiopic", MILD_GLYPH))),
    CoreSpec("font-id-urw", "fonts", "Debian fonts-urw-base35", "AGPL-3.0 with font exception", 48, 1,
             partial(g.font_identification, 300, var=TYPESET),
             "which of 9 classic type families set 2-3 upright letters"),
    CoreSpec("script-id", "scripts", NOTO, "OFL-1.1", 32, 1, partial(g.script_identification, 30, 150, var=MILD_GLYPH),
             "which of 30 writing systems a random letter comes from"),
    CoreSpec("emoji-id", "emoji", "Debian fonts-noto-color-emoji + unicode-data emoji-test.txt", "OFL-1.1 / Unicode",
             48, 3, partial(g.emoji_identity, 100, 100, var=COLOUR),
             "which of 100 emoji (across all groups) a rendering shows: the 100-class core"),
    CoreSpec("emoji-group", "emoji", "Debian fonts-noto-color-emoji + unicode-data emoji-test.txt", "OFL-1.1 / Unicode",
             48, 3, partial(g.emoji, g.EmojiTask("group", 20, 6, True), var=COLOUR),
             "Unicode emoji group of unseen emoji (smileys, animals, food, travel, ...)"),
    CoreSpec("emoji-subgroup", "emoji", "Debian fonts-noto-color-emoji + unicode-data emoji-test.txt",
             "OFL-1.1 / Unicode", 48, 3, partial(g.emoji, g.EmojiTask("subgroup", 16, 10, False), var=MILD_COLOUR),
             "Unicode emoji subgroup (animal-mammal, food-fruit, ...), new renderings of known emoji"),
    CoreSpec("icons-adwaita", "icons", "Debian adwaita-icon-theme", "LGPL-3.0 / CC-BY-SA-3.0", 32, 1,
             partial(g.icons, 8, var=COLOUR), "icon category of icons never seen in training"),
    *(CoreSpec(f"icons-{theme}", "icons", f"Debian {package}", license, 32, 3,
               _cutouts(g.icon_theme, theme, 300, size=32, **style), f"icon category of unseen {theme} icons (colour)")
      for theme, package, license, style in (
          ("oxygen", "oxygen-icon-theme", "LGPL-3.0+", BUSY), ("tango", "tango-icon-theme", "public domain", PLAIN),
          ("mate", "mate-icon-theme", "LGPL-3.0+ or CC-BY-SA-3.0", BUSY),
          ("elementary", "elementary-xfce-icon-theme", "GPL-2.0+", BUSY))),
    CoreSpec("icon-theme-id", "icon-styles", "Debian oxygen, tango, mate and elementary-xfce icon themes",
             "LGPL-3.0+ / public domain / CC-BY-SA-3.0 / GPL-2.0+", 32, 3,
             _cutouts(g.icon_theme_identity, ("oxygen", "tango", "mate", "elementary"), 400, max_items=300, size=32,
                      **CALM),
             "which of 4 icon themes drew an unseen icon"),
    *(CoreSpec(f"clipart-{name}", "clipart", "Debian openclipart-png", "public domain (CC0)", 48, 3,
               _cutouts(g.clipart, classes, 300, **style), description)
      for name, classes, style, description in (
          ("category", g.CLIPART_CATEGORY, PLAIN, "what unseen clip art shows: animals, food, vehicles, ..."),
          ("food", g.CLIPART_FOOD, BUSY, "kind of food in unseen clip art: fruit, desserts, beverages, ..."),
          ("plants", g.CLIPART_PLANTS, BUSY, "fruit, vegetables, flowers or trees: unseen clip art"))),
    *(CoreSpec(f"stamps-{name}", "stamps", "Debian tuxpaint-stamps-default", "GPL-2.0", 48, 3,
               _cutouts(g.stamps, classes, 300, **style), description)
      for name, classes, style, description in (
          ("category", g.STAMPS_CATEGORY, BUSY, "category of unseen Tux Paint stamps (many photo cut-outs)"),
          ("animals", g.STAMPS_ANIMALS, PLAIN, "birds, fish, insects or mammals: unseen Tux Paint stamps"),
          ("plants", g.STAMPS_PLANTS, BUSY, "fruit, vegetables, flowers or trees: unseen Tux Paint stamps"))),
    CoreSpec("photo-patches", "photos", "photos in opencv-doc, scikit-learn, matplotlib, scikit-image (CC0)",
             "various free (see docs/datasets.md)", 64, 3, partial(g.photo_patches, 160),
             "which photo a patch comes from; test patches from an unseen region"),
    CoreSpec("shapes", "procedural", "generated (zap)", "Apache-2.0", 32, 3,
             partial(g.shapes, 400, var=COLOUR), "12 geometric shapes, random colours, clutter"),
    CoreSpec("textures", "procedural", "generated (zap)", "Apache-2.0", 64, 3,
             partial(g.textures, 300, var=COLOUR), "14 procedural texture families"),
)
CORES: dict[str, CoreSpec] = {spec.name: spec for spec in CORE_SPECS}


def get_spec(name: str) -> CoreSpec:
    if name not in CORES:
        raise DataError(f"unknown core dataset {name!r}; `zap datasets list` shows the {len(CORES)} cores")
    return CORES[name]
