"""The ZAP-HPO variants study (benchmarks/zap_hpo_variants.py): on a multi-level artifact it judges the
shipped, budget-aware model (one fit on every level, scored at each level's budget), and stored fits resume."""

from __future__ import annotations

import numpy as np
import pytest

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
            rows, _, scored = results[budget]
            assert scored["paper"].shape == (1, len(rows), len(problem.candidate_ids))  # 8 at 20 s, 6 at 60 s
            assert set(problem.cores[rows]) == set(sorted(set(problem.cores.tolist()))[:2])
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
        low_level, high_level = (levels.problems[b] for b in levels.budgets)
        shared = [c for c in low_level.candidate_ids if c in high_level.candidate_ids]
        low, high = (results[b][2]["paper"][0][:, [p.candidate_ids.index(c) for c in shared]]
                     for b, p in levels)
        assert not np.array_equal(low.argsort(axis=1), high.argsort(axis=1))


def test_a_level_still_being_built_leaves_its_held_out_cores_without_rows(tmp_path):
    """While level 60 fills, a core can have complete datasets at 20 s and none at 60 s: it is held out and
    scored at 20 s only, and its stored fit reads back."""
    with benchmark_script("zap_hpo_variants") as study:
        payload = synthetic_levels_artifact()
        levels = Levels.from_artifact(payload)
        first_core = sorted(set(levels.lowest.cores.tolist()))[0]
        high = levels.problems[levels.budgets[-1]]
        for i in np.flatnonzero(high.cores == first_core):
            for matrix in payload["levels"]["60"]["matrices"].values():
                matrix["alc"][i][0] = matrix["final_nauc"][i][0] = None
        levels = Levels.from_artifact(payload)
        for _ in range(2):  # fitted, then read back
            results = study.evaluate(levels, "loco", {"paper": {}}, [0], 3, tmp_path, max_groups=1)
            assert results[20.0][2]["paper"].shape[1] == 3 and results[60.0][2]["paper"].shape == (1, 0, 6)


def test_a_one_level_fit_keeps_the_key_and_file_it_had_before_levels(tmp_path):
    """v1's stored fits (docs/data/zap_hpo_variants_v1/) must keep counting: same key, scores stored bare."""
    import json

    from synthetic import synthetic_artifact

    with benchmark_script("zap_hpo_variants") as study:
        levels = Levels.from_artifact(synthetic_artifact())
        study.evaluate(levels, "loco", {"paper": {}}, [0], 3, tmp_path, max_groups=1, level="h")
        stored = json.loads(next(tmp_path.glob("paper--*--s0.json")).read_text())
        assert set(stored["key"]) == {"variant", "options", "group", "seed", "epochs", "protocol", "objective",
                                      "rows", "level"}
        assert isinstance(stored["scores"], list) and isinstance(stored["key"]["rows"], list)


def _probes(levels: Levels, informative: bool) -> dict[str, dict]:
    """Probe features per dataset: a deterministic function of the dataset's name."""
    names = sorted({d for _, p in levels for d in p.dataset_ids})
    return {d: {"probe_feature_acc": float(i % 5) if informative else 0.0, "probe_pixel_acc": 0.5,
                "probe_gain": -float(i)} for i, d in enumerate(names)}


def test_a_probe_variant_learns_from_the_probe_columns_and_its_fit_is_keyed_apart(tmp_path, monkeypatch):
    import json

    with benchmark_script("zap_hpo_variants") as study:
        levels = Levels.from_artifact(synthetic_levels_artifact())
        seen = {}
        original = study.fit_and_score

        def recorded(learns_from, selector, train_rows, test_rows):
            seen.setdefault(id(learns_from), learns_from.lowest.meta_features.shape[1])
            return original(learns_from, selector, train_rows, test_rows)

        monkeypatch.setattr(study, "fit_and_score", recorded)
        variants = {"plain": {}, "probed": {"probe": 1}}
        results = study.evaluate(levels, "loco", variants, [0], 5, tmp_path, max_groups=1,
                                 probes=_probes(levels, True))
        assert sorted(seen.values()) == [4, 4 + len(study.PROBE_NAMES)]
        probed = json.loads(next(tmp_path.glob("probed--*--s0.json")).read_text())
        plain = json.loads(next(tmp_path.glob("plain--*--s0.json")).read_text())
        assert probed["key"]["options"] == {"probe": 1} and plain["key"]["options"] == {}
        assert not np.allclose(results[20.0][2]["probed"], results[20.0][2]["plain"])


def test_probe_variants_are_refused_without_features_for_every_dataset(tmp_path):
    with benchmark_script("zap_hpo_variants") as study:
        levels = Levels.from_artifact(synthetic_levels_artifact())
        with pytest.raises(SystemExit, match="--probe-features FILE"):
            study.evaluate(levels, "loco", {"probed": {"probe": 1}}, [0], 3, None, max_groups=1)
        probes = _probes(levels, False)
        probes.pop(sorted(probes)[0])
        with pytest.raises(SystemExit, match="lacks 1 of this artifact's datasets"):
            study.evaluate(levels, "loco", {"probed": {"probe": 1}}, [0], 3, None, max_groups=1, probes=probes)


def test_groups_hold_out_only_the_named_cores_and_refuse_unknown_ones(tmp_path):
    with benchmark_script("zap_hpo_variants") as study:
        levels = Levels.from_artifact(synthetic_levels_artifact())
        last = sorted(set(levels.lowest.cores.tolist()))[-1]
        results = study.evaluate(levels, "loco", {"paper": {}}, [0], 3, None, groups=[last])
        rows = results[20.0][0]
        assert set(levels.lowest.cores[rows]) == {last}
        with pytest.raises(SystemExit, match="no-such-core"):
            study.evaluate(levels, "loco", {"paper": {}}, [0], 3, None, groups=["no-such-core"])
