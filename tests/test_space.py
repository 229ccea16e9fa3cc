"""The search space as data: table, conditions, encoding layout, ids, named configurations."""

import json
from pathlib import Path

import numpy as np
import pytest

from zap.pipelines import (
    complete,
    encode,
    encoding_layout,
    encoding_names,
    get_config,
    named_configs,
    pipeline_id,
    search_space,
)
from zap.pipelines.docs import space_markdown
from zap.pipelines.space import as_dict


def test_space_has_the_zap_dimensions_and_conditions():
    space = search_space()
    names = set(space.keys())
    for name in ("architecture", "optimizer", "momentum", "nesterov", "amsgrad", "lr", "min_lr", "wd",
                 "batch_size", "scheduler", "freeze_portion", "warmup_multiplier", "warm_up_epoch",
                 "steps_per_epoch", "log2_max_size", "cv_valid_ratio", "max_valid_count",
                 "first_simple_model", "simple_model"):
        assert name in names
    assert {"momentum", "nesterov", "amsgrad", "simple_model"} == {c.child.name for c in space.conditions}
    assert space["lr"].log and space["wd"].log and space["min_lr"].log


def test_a_seeded_space_samples_the_same_whatever_sampled_or_reseeded_before():
    """Each call is its own copy: sampling one, or reseeding it as SMAC's facades do, moves no other."""
    first = search_space(7).sample_configuration(4)
    used = search_space(7)
    used.sample_configuration(9)
    search_space().seed(123)
    assert search_space(7).sample_configuration(4) == first
    assert search_space(8).sample_configuration(4) != first


def test_encoding_has_a_fixed_documented_length():
    layout = encoding_layout()
    assert len(layout) == 35
    sample = search_space().sample_configuration(20)
    encoded = np.stack([encode(c) for c in sample])
    assert encoded.shape == (20, 35) and np.isfinite(encoded).all()
    names = encoding_names()
    assert names[:4] == [f"architecture={a}" for a in ("mobilenetv2", "efficientnet_lite0",
                                                        "efficientnet_lite1", "efficientnet_lite2")]
    for dim in ("architecture", "optimizer", "scheduler", "augmentation"):
        block = [i for i, c in enumerate(layout) if c.dim == dim]
        assert np.allclose(encoded[:, block].sum(axis=1), 1.0)  # exactly one choice set


def test_encoding_transforms():
    config = complete({"optimizer": "Adam", "lr": 1e-3, "wd": 1e-4})
    vector = dict(zip(encoding_names(), encode(config), strict=True))
    assert vector["lr"] == pytest.approx(-3) and vector["wd"] == pytest.approx(-4)
    assert vector["optimizer=Adam"] == 1 and vector["optimizer=SGD"] == 0
    assert vector["momentum"] == pytest.approx(0.9)  # inactive: its default
    assert vector["simple_model=RF"] == 0  # inactive categorical: all zeros


def test_pipeline_id_depends_on_named_values_only():
    a = complete({"optimizer": "Adam", "lr": 1e-3})
    b = complete({"lr": 1e-3, "optimizer": "Adam"})
    assert pipeline_id(a) == pipeline_id(b)
    assert pipeline_id(a) == pipeline_id(as_dict(a)) == pipeline_id(dict(reversed(list(as_dict(a).items()))))
    assert pipeline_id(a) != pipeline_id(complete({"optimizer": "Adam", "lr": 2e-3}))


def test_pipeline_ids_are_stable_across_releases():
    # Pinned: a change here breaks every stored meta-dataset row. Growing the space must not touch it.
    assert pipeline_id(get_config("autodl-default")) == "c97550569f05"


def test_named_configs_are_valid_and_distinct():
    assert {"autodl-default", "recommended"} <= set(named_configs())
    default = get_config("autodl-default")
    assert default["architecture"] == "mobilenetv2" and default["optimizer"] == "SGD"
    assert default["lr"] == 0.025 and default["eval_gap_max_frac"] == pytest.approx(90 / 1200)
    assert pipeline_id(default) != pipeline_id(get_config("recommended"))


def test_config_files_and_their_errors(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"architecture": "efficientnet_lite0", "optimizer": "AdamW"}))
    config = get_config(path)
    assert config["architecture"] == "efficientnet_lite0" and config["amsgrad"] is False
    path.write_text(json.dumps({"learning_rate": 0.1}))
    with pytest.raises(ValueError, match="unknown hyperparameter.*learning_rate"):
        get_config(path)
    path.write_text(json.dumps({"lr": 5.0}))
    with pytest.raises(ValueError, match="invalid pipeline"):
        get_config(path)
    with pytest.raises(ValueError, match="no named pipeline or file"):
        get_config("nonexistent-name")


DOCS_PAGE = Path(__file__).parents[1] / "docs" / "search_space.md"


def _docs_rows() -> dict[str, list[str]]:
    """The hyperparameter table of docs/search_space.md: name -> its cells (type, range, log, default, ...)."""
    rows = {}
    for line in DOCS_PAGE.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        if len(cells) == 9 and cells[0].isdigit():
            rows[cells[1].strip("`")] = cells[2:]
    return rows


def _listed(cell: str) -> list[str]:
    return [v.strip() for v in cell.strip("{}[]").split(",")]


def test_docs_table_is_what_configspace_samples_from():
    """The published table read back and compared with the ConfigSpace object SMAC and sampling use, not with
    DIMENSIONS it is generated from: catches a range, log flag, default or condition that the table prints
    otherwise than ConfigSpace holds (a formatting slip in `space_markdown`, or the space built wrongly from
    DIMENSIONS), and a hyperparameter missing from either."""
    space, rows = search_space(), _docs_rows()
    assert set(rows) == set(space.keys())
    for name, hp in space.items():
        _, values, log, default, condition = rows[name][:5]
        if hasattr(hp, "lower"):
            assert [float(v) for v in _listed(values)] == pytest.approx([hp.lower, hp.upper]), name
            assert log == ("yes" if hp.log else "no"), name
        else:
            choices = hp.sequence if hasattr(hp, "sequence") else hp.choices
            assert _listed(values) == [str(c) for c in choices], name
        if isinstance(hp.default_value, str | bool):
            assert default == str(hp.default_value), name
        else:
            assert float(default) == pytest.approx(hp.default_value, rel=1e-5), name
        parents = [c for c in space.conditions if c.child.name == name]
        if parents:
            (c,) = parents
            allowed = getattr(c, "values", None) or [c.value]
            assert condition == f"{c.parent.name} in {list(allowed)}", name
        else:
            assert condition == "–", name
    vector = encode(complete({}))
    assert f"Encoding: {len(vector)} columns" in DOCS_PAGE.read_text()


def test_docs_page_holds_the_current_table():
    """Catches a docs page left stale after the space changed (the table is pasted from `zap space --markdown`)."""
    assert space_markdown() in DOCS_PAGE.read_text(), "regenerate the table: zap space --markdown"
