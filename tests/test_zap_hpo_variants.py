"""The ZAP-HPO variants study (benchmarks/zap_hpo_variants.py): on a multi-level artifact it judges the
shipped, budget-aware model (one fit on every level, scored at each level's budget), and stored fits resume."""

from __future__ import annotations

import numpy as np

from conftest import benchmark_script
from synthetic import synthetic_levels_artifact
from zap.metadataset.problem import Levels


def test_variants_on_levels_fit_once_across_levels_and_score_each_level_among_its_candidates(tmp_path, monkeypatch):
    with benchmark_script("zap_hpo_variants") as study:
        levels = Levels.from_artifact(synthetic_levels_artifact())
        fits = []
        original = study.fit_and_score

        def counted(*args):
            fits.append(1)
            return original(*args)

        monkeypatch.setattr(study, "fit_and_score", counted)
        variants = {"paper": {}}
        results = study.evaluate(levels, "loco", variants, [0], 5, tmp_path / "fits", max_groups=2, level="h")
        assert len(fits) == 2  # one fit per held-out core, shared by both levels
        for budget, problem in levels:
            rows, reference, scored = results[budget]
            assert scored["paper"].shape == (1, len(rows), len(problem.candidate_ids))  # 8 at 20 s, 6 at 60 s
            assert set(problem.cores[rows]) == set(sorted(set(problem.cores.tolist()))[:2])
            assert np.all(reference["oracle"] >= reference["single-best"])
        again = study.evaluate(levels, "loco", variants, [0], 5, tmp_path / "fits", max_groups=2, level="h")
        assert len(fits) == 2  # read back, not fitted again
        for budget in levels.budgets:
            assert np.allclose(again[budget][2]["paper"], results[budget][2]["paper"], atol=1e-6)


def test_budget_feature_changes_the_ranking_where_the_levels_disagree(tmp_path):
    """The synthetic levels favour other candidates at 60 s than at 20 s: the budget-aware fit, scored at each
    level's budget, must rank the shared candidates differently at the two levels."""
    with benchmark_script("zap_hpo_variants") as study:
        levels = Levels.from_artifact(synthetic_levels_artifact())
        results = study.evaluate(levels, "loco", {"paper": {}}, [0], 40, None, max_groups=1)
        low, high = (results[b][2]["paper"][0] for b in levels.budgets)
        shared = min(low.shape[1], high.shape[1])
        assert not np.array_equal(low[:, :shared].argsort(axis=1), high[:, :shared].argsort(axis=1))
