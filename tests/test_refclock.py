"""The reference clock: prices from a cost table, and runs that do not depend on the machine's timers."""

import dataclasses
import itertools
import math

import numpy as np
import pytest

from conftest import FAST_CONFIG, benchmark_script, injected_table, pattern
from zap.data import SplitSettings, load_dataset, train_test_split
from zap.finetune import Budget, run
from zap.finetune.pricing import cannot_answer, first_answer_price
from zap.finetune.refclock import CostTable, CostTableError, default_cost_table


@pytest.fixture
def split(arrays):
    x, y = arrays
    return train_test_split(load_dataset((x, y)), SplitSettings(0.3, 100, 0))


def test_prices_interpolate_between_measured_points():
    table = injected_table()
    assert table.step_cost("mobilenetv2", 32, 16, 0.0) == pytest.approx(0.05 + 16 * 0.01)
    assert table.step_cost("mobilenetv2", 64, 16, 0.5) == pytest.approx(0.05 + 16 * 0.02)
    # log-log between 32 and 64 px: cost per image grows with the pixel count (x 2.25 at 48 px)
    assert table.step_cost("mobilenetv2", 48, 1, 0.0) - 0.05 == pytest.approx(0.01 * 2.25, rel=1e-6)
    # linear in the frozen share, extrapolated past the largest measured size along the last segment
    assert table.step_cost("mobilenetv2", 32, 1, 0.25) - 0.05 == pytest.approx(0.0075)
    assert table.predict_cost("mobilenetv2", 128, 10) == pytest.approx(10 * 0.016)


def test_table_round_trips_and_refuses_unknown_architectures_and_schemas():
    table = injected_table()
    assert CostTable.from_dict(table.to_dict()) == table
    with pytest.raises(CostTableError, match="efficientnet_lite2"):
        table.step_cost("efficientnet_lite2", 32, 16, 0.0)
    with pytest.raises(CostTableError, match="schema"):
        CostTable.from_dict(table.to_dict() | {"schema": 99})


class SkewedClock:
    """A timer whose seconds are `rate` times real ones: what a loaded or a faster machine looks like."""

    def __init__(self, rate: float):
        import time

        self.rate, self.time = rate, time.perf_counter

    def __call__(self) -> float:
        return self.rate * self.time()


def test_a_ref_budget_run_does_not_depend_on_the_timers(split):
    """The property the meta-dataset needs: the same cell reaches the same steps and curve at T however
    fast the machine's clocks say it ran (here 1x and a 7x slower timer)."""
    table = injected_table()
    config = FAST_CONFIG | {"first_simple_model": True, "simple_model": "SVC"}
    runs = [run(split.train, split.test, config, Budget(3.0, "ref"), seed=0, costs=table,
                wall_fn=SkewedClock(rate), cpu_fn=SkewedClock(rate)) for rate in (1.0, 7.0)]
    a, b = runs
    assert a.status == b.status == "ok"
    assert a.elapsed["steps"] == b.elapsed["steps"] > 3
    assert [r["ref_s"] for r in a.curve.rows] == [r["ref_s"] for r in b.curve.rows]
    assert [r["nauc"] for r in a.curve.rows] == [r["nauc"] for r in b.curve.rows]
    assert a.alc == b.alc
    # the run spends its budget: the steps alone cost (0.05 + 16 x 0.01) each at 32 px
    assert a.elapsed["steps"] * (0.05 + 16 * 0.01) <= 3.0
    assert 0.8 * 3.0 <= a.elapsed["ref_s"] <= 3.0 * 1.05


def test_ref_time_is_the_sum_of_the_prices_of_what_ran(split):
    """The first prediction is the quick model's: its fit (0.1) and the thumbnails and predictions of the
    images it decoded are all that was charged before it."""
    table = injected_table()
    config = FAST_CONFIG | {"first_simple_model": True, "simple_model": "LR"}
    result = run(split.train, split.test, config, Budget(2.0, "ref"), seed=0, costs=table)
    first = result.curve.rows[0]
    assert first["steps"] == 0
    n_fit = len(split.train) - math.ceil(0.1 * len(split.train))  # the runner's validation carve-out
    decoded = n_fit + len(split.test)
    expected = 0.1 + decoded * 1e-4 + len(split.test) * 1e-4
    assert first["ref_s"] == pytest.approx(expected, rel=0.15)


def test_every_run_records_ref_time_beside_wall_and_cpu(split):
    result = run(split.train, split.test, FAST_CONFIG, Budget(3, "steps"), costs=injected_table())
    assert set(result.curve.rows[-1]) == {"wall_s", "cpu_s", "steps", "nauc", "accuracy", "ref_s"}
    assert result.elapsed["ref_s"] > 0


def test_ref_clock_refuses_an_architecture_without_prices(split):
    table = injected_table()
    with pytest.raises(ValueError, match="efficientnet_lite1"):
        run(split.train, split.test, FAST_CONFIG | {"architecture": "efficientnet_lite1"}, Budget(2, "ref"),
            costs=table)


def test_budget_refuses_infinite_and_nan_amounts():
    for bad in (math.inf, math.nan, 0, -1):
        with pytest.raises(ValueError, match="positive finite"):
            Budget(bad, "ref")


@pytest.mark.skipif(default_cost_table() is None, reason="no shipped cost table yet")
def test_the_shipped_table_prices_every_zoo_model_and_grows_with_size():
    from zap.pipelines.zoo import ZOO

    table = default_cost_table()
    for arch in ZOO:
        costs = [table.step_cost(arch, s, 32, 0.0) for s in (32, 64, 128)]
        assert costs == sorted(costs) and costs[0] > 0, arch
        assert table.step_cost(arch, 64, 32, 0.5) < costs[1], arch  # freezing saves compute
    assert np.isfinite(table.quick_fit_cost("SVC", 500, 10))


def test_fit_records_the_budget_in_reference_seconds(arrays):
    """Selection compares the user's budget with the meta-dataset's levels in reference seconds: as given on
    the ref clock, through the device probe on the wall clock (recorded, with what it measured)."""
    from zap import ZAP

    on_ref = ZAP(budget=2, clock="ref", config=FAST_CONFIG, test_ratio=0.3, max_test=100).fit(arrays).summary()
    assert on_ref["budget_ref_s"] == 2 and on_ref["clock_calibration"] is None
    assert on_ref["threads_choice"]["threads"] == on_ref["threads"] >= 1  # zap chose, and says how
    assert on_ref["elapsed"]["ref_s"] <= 2 * 1.05
    on_wall = ZAP(budget=2, clock="wall", config=FAST_CONFIG, test_ratio=0.3, max_test=100, threads=1).fit(arrays)
    probe = on_wall.summary()["clock_calibration"]
    assert probe["method"] == "device probe" and probe["steps"] >= 1 and probe["ref_per_wall"] > 0
    usable = probe["decode"]["usable_wall_s"]  # the budget less decoding beyond the table's price
    assert 0.9 * 2 <= usable <= 2  # arrays in memory decode at about the table's price
    assert on_wall.summary()["budget_ref_s"] == pytest.approx(usable * probe["ref_per_wall"], rel=1e-3)
    assert on_wall.summary()["threads_choice"] is None and probe["threads"] == 1  # named: nothing chosen


def test_the_device_probe_times_fewer_steps_on_a_slow_machine_instead_of_taking_longer(monkeypatch):
    """The wall-clock budget's conversion must stay short (about 2 s) on a busy machine too. With each of the
    real probe state's training steps made to take at least 0.3 s against a 1 s limit, the probe stops
    warming up after one step and times one step (it once ran 2 warm-up and at least 2 timed steps whatever
    they cost). Counted in steps, not seconds: how long they take depends on what else the machine runs."""
    import time

    from zap.finetune import calibrate

    build, calls = calibrate._probe_state, []

    def slowed(*args, **kwargs):
        state, cache = build(*args, **kwargs)
        step = state.train_step
        state.train_step = lambda x, y: (calls.append(1), time.sleep(0.3), step(x, y))[2]
        return state, cache

    monkeypatch.setattr(calibrate, "_probe_state", slowed)
    speed = calibrate.probe(default_cost_table(), threads=1, max_seconds=1.0)
    assert speed.steps == 1 and len(calls) == 2 and speed.ref_per_wall > 0


def test_the_device_probe_reports_importing_the_model_code_apart_from_its_own_seconds(monkeypatch):
    """A fresh `zap fit` process imports torchvision (and with it torch._dynamo) at its first model build:
    on a loaded machine that alone took 9-17 s, which the probe's 2 s counted as its own. The import now comes
    before the probe's clock starts and is reported as `import_s`."""
    import time

    from zap.finetune import calibrate

    order = []
    monkeypatch.setattr(calibrate, "import_model_code", lambda name: (order.append(("import", name)),
                                                                       time.sleep(0.4)))
    build = calibrate._probe_state
    monkeypatch.setattr(calibrate, "_probe_state", lambda *a, **k: (order.append(("build", a[0])), build(*a, **k))[1])
    speed = calibrate.probe(default_cost_table(), threads=1, max_seconds=1.0)
    assert order == [("import", calibrate.PROBE_ARCHITECTURE), ("build", calibrate.PROBE_ARCHITECTURE)]
    assert speed.import_seconds >= 0.4 and speed.to_dict()["import_s"] >= 0.4


def distinct_quick_prices() -> CostTable:
    """Quick models priced apart, their fit growing with the sample and the classes: a price that used the
    wrong model, sample or class count would not match."""
    fit = {"SVC": [-3.0, 0.3, 0.2], "NuSVC": [-2.8, 0.3, 0.2], "RF": [-2.5, 0.1, 0.1], "LR": [-4.0, 0.2, 0.3]}
    return dataclasses.replace(injected_table(), quick_fit=fit,
                               quick_predict={"SVC": 3e-4, "NuSVC": 4e-4, "RF": 0.5e-4, "LR": 1e-4})


def first_quick_answer(train, test, quick_model: str, table: CostTable):
    config = FAST_CONFIG | {"first_simple_model": True, "simple_model": quick_model}
    price = first_answer_price(train, len(test), config, seed=3, costs=table)
    result = run(train, test, config, Budget(2.0, "ref"), seed=3, costs=table)
    assert result.curve.rows[0]["steps"] == 0  # the quick model answered first
    return price, result


@pytest.mark.parametrize("quick_model", ["LR", "RF"])
def test_the_first_answer_price_is_what_the_quick_model_charges(split, quick_model):
    """Where the quick model is no dearer to predict with than logistic regression, the price before the run is
    the run's own first reference time: the same operations at the same prices."""
    price, result = first_quick_answer(split.train, split.test, quick_model, distinct_quick_prices())
    assert price == pytest.approx(result.curve.rows[0]["ref_s"], rel=1e-9)


def test_a_dearer_quick_model_is_priced_as_its_fallback_predicts(split):
    """SVC can still fall back to logistic regression when its fit fails, so its predictions are priced at the
    cheaper of the two: lower than what ran by exactly the difference, never above it."""
    table = distinct_quick_prices()
    price, result = first_quick_answer(split.train, split.test, "SVC", table)
    assert not any(e["event"] == "quick_model_fallback" for e in result.events)
    assert price == pytest.approx(result.curve.rows[0]["ref_s"] - len(split.test) * (3e-4 - 1e-4), rel=1e-9)


def test_a_quick_model_that_must_fall_back_is_priced_as_what_answers():
    """A class seen fewer than 3 times in the quick model's sample: SVC cannot be calibrated, logistic regression
    answers, and the price is what the run charged."""
    counts = (10, 10, 3)
    x = np.stack([pattern(label, i) for label, n in enumerate(counts) for i in range(n)])
    y = np.repeat(np.arange(3), counts)
    split = train_test_split(load_dataset((x, y)), SplitSettings(0.3, 100, 0))
    price, result = first_quick_answer(split.train, split.test, "SVC", distinct_quick_prices())
    assert any(e["event"] == "quick_model_fallback" for e in result.events)
    assert price == pytest.approx(result.curve.rows[0]["ref_s"], rel=1e-9)


def test_the_first_answer_price_bounds_the_cnns_first_pass_from_below(split):
    """Without the quick model the CNN answers after one step or more: the price counts the first step and
    leaves out the rest, so on a one-step budget it falls short of the first answer only by the new images of
    the next batch, which the loader decoded before the run stopped."""
    table = injected_table()
    config = FAST_CONFIG | {"first_simple_model": False}
    price = first_answer_price(split.train, len(split.test), config, seed=0, costs=table)
    result = run(split.train, split.test, config, Budget(1, "steps"), seed=0, costs=table)
    first = result.curve.rows[0]
    assert first["steps"] == 1
    assert price < first["ref_s"] <= price + 16 * 1e-4 + 1e-12  # at most 16 new images, at 1e-4 each
    longer = run(split.train, split.test, config, Budget(3.0, "ref"), seed=0, costs=table)
    assert price < longer.curve.rows[0]["ref_s"]
    # a known resolution gives the same price without reading the images; a larger test set costs more
    assert first_answer_price(split.train, len(split.test), config, costs=table, resolution=16) == price
    assert first_answer_price(split.train, 10 * len(split.test), config, costs=table) > price


def test_nothing_is_priced_without_test_images_or_without_prices(split):
    table = injected_table()
    assert first_answer_price(split.train, 0, FAST_CONFIG, costs=table) is None
    unpriced = FAST_CONFIG | {"architecture": "efficientnet_lite1"}
    assert first_answer_price(split.train, len(split.test), unpriced, costs=table) is None


def digits_prices(budget: float) -> tuple[list[str], list[float]]:
    """The shipped selector's suggestions for bundled digits at `budget` ref-s and their first answers' prices,
    on the split `zap fit` makes by default."""
    from zap import ZAP
    from zap.data import load_dataset
    from zap.metafeatures import compute
    from zap.selectors.trained import suggest

    defaults = ZAP(budget=budget, clock="ref")
    split = train_test_split(load_dataset("digits"), SplitSettings(defaults.test_ratio, defaults.max_test, 0))
    ranked = suggest(compute(split.train), "zap-hpo", k=5, budget=budget, clock="ref", budget_ref=budget)
    return ([s.pipeline_id for s in ranked.suggestions],
            [first_answer_price(split.train, len(split.test), s.config, seed=0) for s in ranked.suggestions])


def a_budget_that_prices_out_the_first_pick() -> tuple[float, list[str], list[float]]:
    """A budget at which the shipped selector's first suggestion for digits cannot answer in time and at least
    two others can, with that budget's ranking; where one exists, a budget at which the best-ranked of those is
    not the cheapest, so that neither "the cheapest" nor "any that answers" passes for "the best-ranked that
    can answer". The ranking depends on the budget and on the meta-dataset the home ships, so the budget is
    searched, dearest gap first; it lies near the gap's dearer price, as a price is a lower bound of the
    runner's first answer."""
    _, prices = digits_prices(1.0)
    levels = sorted(set(prices))
    found = []
    for low, high in reversed(list(itertools.pairwise(levels))):
        budget = low + 0.9 * (high - low)
        ids, prices = digits_prices(budget)
        answering = [p for p in prices if p <= budget]
        if prices[0] > budget and len(answering) >= 2:
            found.append((answering[0] == min(answering), budget, ids, prices))  # the best-ranked not cheapest first
    if not found:
        pytest.fail(f"no budget between the prices {levels} prices out the shipped selector's first pick while "
                    "two others can answer")
    return min(found, key=lambda item: item[0])[1:]


def test_fit_passes_over_suggestions_that_cannot_answer_within_the_budget():
    """A pick whose first answer comes only after the budget scores nothing: `zap fit` takes the best-ranked
    suggestion priced within it, and says which it passed over and why."""
    from zap import ZAP
    from zap.api import selection_lines

    budget, ids, prices = a_budget_that_prices_out_the_first_pick()
    fitted = ZAP(budget=budget, clock="ref", selector="zap-hpo", progress=False).fit("digits")
    selection = fitted.summary()["selection"]
    pick = next(i for i, p in zip(ids, prices, strict=True) if p <= budget)
    assert selection["pipeline_id"] == pick != ids[0]
    assert [p["pipeline_id"] for p in selection["priced_out"]] == [i for i, p in zip(ids, prices, strict=True)
                                                                   if p > budget]
    assert all(p["first_answer_ref_s"] > budget for p in selection["priced_out"])
    assert fitted.result_.curve.rows[0]["ref_s"] <= budget  # it answered in time
    assert any("passed over" in w for w in selection["warnings"])
    assert any("the best-ranked whose first answer can come within the budget" in line
               for line in selection_lines(selection))
    assert {c["pipeline_id"] for c in fitted.candidates_} == {i for i, p in zip(ids, prices, strict=True)
                                                              if p <= budget}


def test_fit_keeps_the_pick_when_no_suggestion_can_answer_in_time_and_says_so():
    from zap import ZAP

    _, prices = digits_prices(1.0)
    budget = min(prices) / 2
    fitted = ZAP(budget=budget, clock="ref", selector="zap-hpo", progress=False).fit("digits")
    selection = fitted.summary()["selection"]
    assert selection["pipeline_id"] == digits_prices(budget)[0][0]
    assert len(selection["priced_out"]) == 5 and any("every suggestion" in w for w in selection["warnings"])
    assert fitted.summary()["status"] == "late"


def test_a_price_counts_against_a_budget_only_where_it_can_be_trusted():
    """On the reference clock a price past the budget cannot answer in time; on the wall and CPU clocks, whose
    conversion to reference seconds is rough, only a price past twice the budget counts; nothing without a
    price or a budget in reference seconds (a budget of steps)."""
    assert cannot_answer(1.01, 1.0, "ref") and not cannot_answer(1.0, 1.0, "ref")
    assert not cannot_answer(1.9, 1.0, "wall") and cannot_answer(2.1, 1.0, "wall") and cannot_answer(2.1, 1.0, "cpu")
    assert not cannot_answer(None, 1.0, "ref") and not cannot_answer(5.0, None, "steps")


def test_the_fit_set_is_counted_low_where_only_the_number_of_images_is_known():
    """Replay knows a dataset's size, not its labels: the holdout (about cv_valid_ratio of each class, at least one
    of each, at most max_valid_count) is counted high, so the fit set and a step's price are never overstated."""
    from zap.data.split import stratified_holdout
    from zap.finetune.pricing import fit_images_at_least

    rng = np.random.default_rng(0)
    for n, classes in ((47, 10), (91, 30), (500, 5), (5000, 100)):
        labels = rng.integers(0, classes, n)
        config = FAST_CONFIG | {"cv_valid_ratio": 0.2, "max_valid_count": 300}
        actual = n - len(stratified_holdout(labels, 0.2, 300, 1))
        assert fit_images_at_least(config, n, len(np.unique(labels))) <= actual


def test_a_run_decodes_what_it_predicts_then_the_training_images_its_budget_reaches():
    from zap.finetune.calibrate import expected_decodes

    # 100 predicted images at 30 ms leave 7 s; each training image then costs 30 + 10 ms: 175 of 1000
    assert expected_decodes(1000, 100, 0.03, 0.01, 10.0) == 275
    assert expected_decodes(50, 100, 0.03, 0.01, 10.0) == 150  # a long budget reaches every training image
    assert expected_decodes(1000, 500, 0.03, 0.01, 10.0) == 500  # predicting alone uses the budget up


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Two classes of 4 JPEGs of 3 megapixels each, as a phone camera's photos."""
    from PIL import Image

    root, rng = tmp_path_factory.mktemp("photos"), np.random.default_rng(0)
    for cls in ("a", "b"):
        (root / cls).mkdir()
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (1500, 2000, 3), dtype=np.uint8)).save(root / cls / f"p{i}.jpg",
                                                                                        quality=90)
    return load_dataset(root)


def test_decoding_large_photos_is_timed_and_priced_against_the_tables_decode(photos):
    """The run decodes each photo through PixelCache at a reduced scale: tens of ms for a 3-MP JPEG, against
    the table's price of about 0.1 ms (measured on small images). The probe times that code, on at most 8
    images, and a table that prices decoding above what it cost leaves nothing to take off."""
    from zap.finetune.calibrate import DECODE_PROBE_IMAGES, DeviceSpeed, probe_decoding

    speed = DeviceSpeed(ref_per_wall=1.0, seconds=0.0, device="cpu", threads=1, steps=1)
    table = default_cost_table() or injected_table()
    decoding = probe_decoding(photos, [], table, speed, budget_wall=60.0, max_seconds=10.0)
    assert decoding.sampled == DECODE_PROBE_IMAGES
    assert decoding.wall_per_image > 10 * decoding.priced_per_image  # a photo is far dearer than its price
    assert decoding.images == len(photos)  # 8 photos fit in 60 s: all of them decode
    assert decoding.extra_wall_s == pytest.approx((decoding.wall_per_image - decoding.priced_per_image) * 8)
    assert decoding.usable_wall_s == pytest.approx(60.0 - decoding.extra_wall_s)
    generous = dataclasses.replace(table, decode=(10.0, 0.0))  # 10 s a decode: nothing beyond the price
    assert probe_decoding(photos, [], generous, speed, budget_wall=60.0).extra_wall_s == 0.0
    quick = probe_decoding(photos, [], table, speed, budget_wall=60.0, max_seconds=0.0)
    assert quick.sampled == 1  # the time limit holds, after one image at least
    short = probe_decoding(photos, [photos], table, speed, budget_wall=0.01)
    assert short.usable_wall_s == pytest.approx(0.05 * 0.01)  # decoding alone would use it up: the floor
    empty = probe_decoding(photos.subset([]), [], table, speed, budget_wall=60.0)
    assert (empty.sampled, empty.extra_wall_s, empty.usable_wall_s) == (0, 0.0, 60.0)


def test_the_probe_spreads_its_picks_over_every_dataset_it_is_given():
    from zap.finetune.calibrate import _spread_picks

    assert _spread_picks([3, 0, 2], 8) == [(0, 0), (0, 1), (0, 2), (2, 0), (2, 1)]
    assert _spread_picks([100, 10], 3) == [(0, 0), (0, 54), (1, 9)]
    assert _spread_picks([0, 0], 8) == []


def test_the_wall_budget_of_a_photo_folder_is_converted_net_of_decoding(photos):
    """Selection sees the reference seconds left for training: the wall budget less what decoding the photos
    costs beyond the table's price, converted at the probe's rate; both are in `clock_calibration`."""
    from zap.api import budget_in_reference_seconds

    budget_ref, calibration = budget_in_reference_seconds(30, "wall", 1, "cpu", train=photos, predicted=[photos])
    decode = calibration["decode"]
    assert decode["images"] == 2 * len(photos) and decode["extra_wall_s"] > 0
    assert decode["usable_wall_s"] == pytest.approx(30 - decode["extra_wall_s"], abs=2e-3)
    assert budget_ref == pytest.approx(decode["usable_wall_s"] * calibration["ref_per_wall"], rel=1e-3)
    plain, without = budget_in_reference_seconds(30, "wall", 1, "cpu")  # no files named: no decode probe
    assert "decode" not in without and plain > 0


def test_fit_gives_the_conversion_its_train_test_and_extra_images(arrays, monkeypatch):
    """Every image the run will decode: the train split, the test split, and the unlabelled `extra` ones."""
    import zap.api
    from zap import ZAP

    seen = []

    def convert(budget, clock, threads=1, device="cpu", train=None, predicted=()):
        seen.append((len(train), [len(d) for d in predicted]))
        return 2.0, None

    monkeypatch.setattr(zap.api, "budget_in_reference_seconds", convert)
    model = ZAP(budget=2, clock="ref", config=FAST_CONFIG, test_ratio=0.3, max_test=100).fit(arrays,
                                                                                           extra=arrays[0][:7])
    assert seen == [(len(model.split_.train), [len(model.split_.test), 7])]


def test_a_user_is_told_when_decoding_takes_a_tenth_of_the_budget():
    from zap.finetune.calibrate import decoding_note

    decode = {"images": 400, "wall_per_image": 0.03, "extra_wall_s": 11.4, "usable_wall_s": 48.6}
    note = decoding_note({"decode": decode}, 60)
    assert "400 of your images (30 ms each)" in note and "11 of the 60 wall-s" in note and "49 s left" in note
    assert decoding_note({"decode": decode | {"extra_wall_s": 5.9}}, 60) is None  # under a tenth: no note
    assert decoding_note(None, 60) is None and decoding_note({"method": "device probe"}, 60) is None
    floor = decoding_note({"decode": decode | {"extra_wall_s": 90.0, "usable_wall_s": 3.0}}, 60)
    assert "the floor" in floor and "3 s left" in floor
    small = decoding_note({"decode": decode | {"wall_per_image": 0.0004}}, 60)  # small files on a fast device
    assert "0.4 ms each" in small and "smaller files" not in small


def test_the_fit_report_and_the_quiet_path_carry_the_decoding_note(capsys):
    from zap.cli import _report_fit
    from zap.html.fit import _run_notes

    decode = {"images": 400, "wall_per_image": 0.03, "extra_wall_s": 11.4, "usable_wall_s": 48.6}
    summary = {"threads": 1, "threads_choice": None, "budget_s": 60, "clock_calibration": {"decode": decode},
               "status": "ok", "selection": {"warnings": []}}
    assert _run_notes(summary).startswith("1 thread(s) · decoding about 400 of your images")
    _report_fit(__import__("argparse").Namespace(quiet=True, out="runs/x", budget=60, clock="wall"), summary)
    assert "note: decoding about 400 of your images" in capsys.readouterr().err


def test_the_three_places_print_the_same_time_notes_in_the_same_order(capsys):
    from zap.cli import _report_fit
    from zap.finetune.calibrate import run_notes
    from zap.html.fit import _run_notes

    decode = {"images": 400, "wall_per_image": 0.03, "extra_wall_s": 11.4, "usable_wall_s": 48.6}
    choice = {"threads": 1, "cores": 2, "busy_cores": 1.0, "rule": "one per free core"}
    notes = run_notes(choice, {"decode": decode}, 60)
    assert len(notes) == 2 and notes[0].startswith("1 torch thread(s) on 2 cores") and "decoding" in notes[1]
    assert run_notes(None, None, 60) == [] and run_notes(choice | {"threads": 2}, {"decode": decode}, 600) == []
    summary = {"threads": 1, "threads_choice": choice, "budget_s": 60, "clock_calibration": {"decode": decode},
               "status": "ok", "selection": {"warnings": []}}
    assert _run_notes(summary) == " · ".join(notes)  # the report: no "1 thread(s)" when the note says it
    _report_fit(__import__("argparse").Namespace(quiet=True, out="runs/x", budget=60, clock="wall"), summary)
    assert capsys.readouterr().err.splitlines() == [f"note: {note}" for note in notes]


def test_the_photo_budget_benchmark_writes_its_folders_and_reads_the_share_left(tmp_path, capsys):
    with benchmark_script("photo_budget") as bench:
        root = bench.write_folder(tmp_path / "photos", 0.01, n_images=20)
        rows = [{"seed": 0, "megapixels": 0.01, "gross_ref_s": 10.0, "net_ref_s": 10.0, "achieved_ref_s": 8.0},
                {"seed": 0, "megapixels": 12, "gross_ref_s": 10.0, "net_ref_s": 5.0, "achieved_ref_s": 4.0}]
        bench.print_share_left(rows, 0.01, 12)
    dataset = load_dataset(root)
    assert len(dataset) == 20 and dataset.n_classes == 2 and dataset.load(0).shape == (86, 115, 3)
    assert "| 0 | 0.50 | 0.50 |" in capsys.readouterr().out  # (4/10) / (8/10) measured, 5/10 predicted
