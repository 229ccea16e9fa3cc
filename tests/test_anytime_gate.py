"""benchmarks/anytime_gate.py on hand-made records whose counts are known."""

import json

import numpy as np

from conftest import benchmark_script
from zap.finetune.runner import RUNNER_VERSION

CONFIG = {"cv_valid_ratio": 0.1, "max_valid_count": 256}


def _record(dataset: str, naucs: list[float], budget: float = 20.0, seed: int = 0, status: str = "ok",
            runner: int = RUNNER_VERSION, n_train: int = 400) -> dict:
    curve = [[t, t, t, nauc, nauc, t] for t, nauc in enumerate(naucs)]
    return {"dataset": dataset, "budget": budget, "seed": seed, "status": status, "curve": curve,
            "pipeline": CONFIG, "n_train": n_train, "provenance": {"runner": runner}}


def test_releases_worse_on_test_are_counted_per_level_and_holdout(tmp_path):
    classes = {"few": 40, "many": 2}  # 400 images in 40 classes: 1 held out a class (40 in all)
    records = [
        _record("few", [0.2, 0.4, 0.3, 0.35]),         # 3 releases, 1 worse by 0.1
        _record("many", [0.1, 0.5, 0.6], n_train=2000),  # 200 held out in all (2 x 100): 2 releases, none worse
        _record("few", [0.2, 0.1], budget=60.0),        # level 60: 1 release, worse
        _record("few", [0.2, 0.9, 0.5]),                # reached 0.8: may release unvalidated, not counted
        _record("few", [0.5]),                          # one point: no release to judge
        _record("few", [0.5, 0.1], seed=1),             # another seed
        _record("few", [0.5, 0.1], runner=RUNNER_VERSION - 1),
        _record("few", [0.5, 0.1], status="error"),
        _record("unknown", [0.5, 0.1]),                 # not in the plan
    ]
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "x.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "datasets.json").write_text(json.dumps([{"name": n, "classes": list(range(c))}
                                                        for n, c in classes.items()]))
    with benchmark_script("anytime_gate") as gate:
        assert gate.holdout_size(CONFIG, 400, 40) == 40
        assert gate.holdout_size(CONFIG, 2000, 2) == 200
        assert gate.holdout_size({"cv_valid_ratio": 0.5, "max_valid_count": 30}, 2000, 2) == 30
        cells = gate.gate_cells(gate.read_records(tmp_path / "records"), gate.dataset_classes(tmp_path))
        table = gate.gate_table(cells)
        assert set(table) == {"20", "60"}
        few, many = table["20"]["[20, 50)"], table["20"]["[200, inf)"]
        assert (few["cells"], few["releases"]) == (1, 3)
        assert abs(few["worse_share"] - 1 / 3) < 1e-9 and abs(few["mean_loss_when_worse"] - 0.1) < 1e-9
        assert few["holdout_per_class"] == 1.0
        assert (many["releases"], many["worse_share"], many["holdout_per_class"]) == (2, 0.0, 100.0)
        assert table["60"]["[20, 50)"]["worse_share"] == 1.0
        everything = gate.gate_table(gate.gate_cells(gate.read_records(tmp_path / "records"),
                                                     gate.dataset_classes(tmp_path), below=1.01))
        assert everything["20"]["[20, 50)"]["releases"] == 5  # the curve that reached 0.9 now counts


def test_within_datasets_compares_each_datasets_small_and_large_holdouts():
    with benchmark_script("anytime_gate") as gate:
        def cell(dataset, per_class, changes):
            return gate.Cell(20.0, dataset, int(per_class * 10), per_class, np.array(changes, dtype=float))
        cells = [cell("a", 1, [-0.1, 0.1]), cell("a", 2, [0.1]), cell("a", 5, [0.1, 0.1]),  # 0.5 - 0.0
                 cell("b", 1, [-0.1]), cell("b", 3, [0.2]), cell("b", 9, [-0.1, 0.1]),      # 1.0 - 0.5
                 cell("c", 4, [-0.1])]                                                       # one cell: left out
        row = gate.within_datasets(cells, resamples=200)["20"]
        assert row["datasets"] == 2 and abs(row["diff"] - 0.5) < 1e-9
        assert (row["small_per_class"], row["large_per_class"]) == (1.0, 7.0)
        assert row["diff_ci"][0] <= 0.5 <= row["diff_ci"][1]
