"""Zero-shot selectors: one interface (`fit` on meta-features, pipeline encodings, a performance matrix
and groups; `rank` on new meta-features), many learners."""

from zap.selectors.base import (
    SELECTOR_SCHEMA,
    LoadedSelector,
    Ranking,
    Selector,
    SelectorError,
    Standardizer,
    load_selector,
    one_hot_encodings,
)
from zap.selectors.baselines import FixedPipeline, RandomSelector, SingleBest
from zap.selectors.registry import SELECTORS, create_selector
from zap.selectors.zap_as import ZapAS
from zap.selectors.zap_hpo import ZapHPO

__all__ = [
    "SELECTORS",
    "SELECTOR_SCHEMA",
    "FixedPipeline",
    "LoadedSelector",
    "RandomSelector",
    "Ranking",
    "Selector",
    "SelectorError",
    "SingleBest",
    "Standardizer",
    "ZapAS",
    "ZapHPO",
    "create_selector",
    "load_selector",
    "one_hot_encodings",
]
