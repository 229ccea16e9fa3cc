"""Every named selector in one table: a name stands for a class and the keywords that make it that variant.

The command line, meta-training, the benchmark and the scripts in `benchmarks/` all build selectors
through `create_selector`, so a name means the same selector everywhere. An entry's keywords are what
make it that variant, so a caller may not change them: `autofolio-default` given a tuned `config` would
be the tuned ZAP-AS it is the reference for, under the reference's name. Other settings go on top;
settings for every family may be passed at once (the benchmark's `max_epochs` for ZAP-HPO and
`n_trials` for ZAP-AS), and each selector takes those its class has.

The benchmark's reference methods that are not selectors (the Oracle reads the held-out rows, Random is
scored by its expectation, `autodl-default` and `recommended` are fixed columns) are not in this table.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from zap.selectors.base import Selector, SelectorError
from zap.selectors.baselines import NearestDatasets, RandomSelector, SingleBest
from zap.selectors.zap_as import AUTOFOLIO_DEFAULT, ZapAS
from zap.selectors.zap_hpo import ZapHPO


@dataclass(frozen=True)
class SelectorEntry:
    """A named selector: its class, the keywords that make it this variant, and whether `zap meta-train`
    trains and ships it (so `zap suggest` and `zap fit` can use it)."""

    cls: type[Selector]
    keywords: Mapping[str, Any] = field(default_factory=dict)
    shipped: bool = False
    summary: str = ""


def _entry(cls: type[Selector], summary: str, shipped: bool = False, **keywords: Any) -> SelectorEntry:
    return SelectorEntry(cls, MappingProxyType(keywords), shipped, summary)


# Shipped selectors first, in the order `zap meta-train` trains them.
SELECTORS: Mapping[str, SelectorEntry] = MappingProxyType({
    "zap-hpo": _entry(ZapHPO, "ZAP-HPO: an MLP surrogate trained to rank pipelines (pairwise loss)", shipped=True),
    "zap-as": _entry(ZapAS, "ZAP-AS: an algorithm selector whose configuration SMAC tunes", shipped=True),
    "single-best": _entry(SingleBest, "the pipeline with the best mean over the training datasets", shipped=True),
    # the benchmark's ablation of that name; on v1 it closed more of the gap than the pairwise loss
    # (docs/selectors.md, "Design variants"), so users can choose it, but it is no default until the
    # zero-shot study in the user's regime says so
    "zap-hpo-regression": _entry(ZapHPO, "ZAP-HPO trained with the regression loss", shipped=True,
                                 loss="regression"),
    "zap-hpo-listwise": _entry(ZapHPO, "ZAP-HPO trained with a listwise loss (ListNet's top-one cross-entropy)",
                               loss="listwise"),
    "zap-hpo-vote": _entry(ZapHPO, "ZAP-HPO whose fold models vote for their top-1", ensemble="vote"),
    "zap-hpo-keep75": _entry(ZapHPO, "ZAP-HPO trained on 75 % of the matrix cells", keep=0.75),
    "zap-hpo-keep50": _entry(ZapHPO, "ZAP-HPO trained on 50 % of the matrix cells", keep=0.5),
    "zap-hpo-keep25": _entry(ZapHPO, "ZAP-HPO trained on 25 % of the matrix cells", keep=0.25),
    "random": _entry(RandomSelector, "a seeded random order per dataset"),
    "autofolio-default": _entry(ZapAS, "AutoFolio's untuned default: a pairwise random forest, pairs weighted "
                                "by their performance difference", config=AUTOFOLIO_DEFAULT, tune=False),
    "knn": _entry(NearestDatasets, "the best mean over the 5 nearest training datasets in meta-feature space"),
})
SHIPPED: tuple[str, ...] = tuple(name for name, entry in SELECTORS.items() if entry.shipped)


def _parameters(cls: type[Selector]) -> set[str]:
    return set(inspect.signature(cls.__init__).parameters) - {"self"}


KNOWN_SETTINGS = frozenset().union(*(_parameters(e.cls) for e in SELECTORS.values()))


def get_entry(name: str) -> SelectorEntry:
    if name not in SELECTORS:
        raise SelectorError(f"unknown selector {name!r}; choose one of {', '.join(SELECTORS)}")
    return SELECTORS[name]


def _check_defining_keywords(name: str, entry: SelectorEntry, settings: Mapping[str, Any]) -> None:
    changed = sorted(key for key, value in settings.items()
                     if key in entry.keywords and value != entry.keywords[key])
    if changed:
        family = next((other for other, e in SELECTORS.items() if e.cls is entry.cls and not e.keywords),
                      f"{entry.cls.__name__} itself")
        raise SelectorError(
            f"selector {name!r} is defined by {', '.join(f'{k}={entry.keywords[k]!r}' for k in changed)}; "
            f"a different {', '.join(changed)} would be another selector under its name: "
            f"use {family!r} with your settings instead")


def create_selector(name: str, **settings: Any) -> Selector:
    """A new, unfitted selector of this name. A setting that no registered selector has is a typo and an
    error, one that only other families have is left out, and one that changes the keywords defining
    the name is an error too."""
    entry = get_entry(name)
    unknown = sorted(set(settings) - KNOWN_SETTINGS)
    if unknown:
        raise SelectorError(f"no selector takes {', '.join(unknown)}; settings they take: "
                            f"{', '.join(sorted(KNOWN_SETTINGS))}")
    _check_defining_keywords(name, entry, settings)
    accepted = _parameters(entry.cls)
    return entry.cls(**dict(entry.keywords) | {k: v for k, v in settings.items() if k in accepted})
