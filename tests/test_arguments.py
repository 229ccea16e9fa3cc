"""Every argument is checked before any work starts: a bad one fails at once with a ConfigError naming the
argument, the value and what it takes, before the data is read (the data path here does not exist, so an
error about it would mean the check came too late) and before anything is written."""

import json
import math
from pathlib import Path

import pytest

from zap import ZAP
from zap.cli import main
from zap.errors import ConfigError
from zap.pipelines import get_config

NO_DATA = "/no/such/data"


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"budget": math.inf}, ["budget", "inf", "604800"]),
        ({"budget": math.nan}, ["budget", "nan"]),
        ({"budget": 1e12}, ["budget", "1000000000000.0", "7 days"]),
        ({"budget": 0}, ["budget", "got 0"]),
        ({"budget": -5}, ["budget", "got -5"]),
        ({"budget": "60"}, ["budget", "'60'"]),
        ({"budget": 2.5, "clock": "steps"}, ["budget", "whole number of steps", "2.5"]),
        ({"budget": 0, "clock": "steps"}, ["budget", "[1, 10000000]"]),
        ({"clock": "sundial"}, ["clock", "sundial", "wall"]),
        ({"threads": 0}, ["threads", "[1, 1024]", "got 0"]),
        ({"threads": 2.5}, ["threads", "whole number", "2.5"]),
        ({"threads": 100_000}, ["threads", "100000"]),
        ({"threads": True}, ["threads", "True"]),
        ({"threads": 2, "clock": "cpu"}, ["threads=1", "got 2"]),
        ({"test_ratio": 0.0}, ["test_ratio", "(0, 1)", "0.0"]),
        ({"test_ratio": 1.0}, ["test_ratio", "(0, 1)", "1.0"]),
        ({"test_ratio": math.nan}, ["test_ratio", "nan"]),
        ({"max_test": 0}, ["max_test", "[1, inf)", "got 0"]),
        ({"seed": -1}, ["seed", "got -1"]),
        ({"seed": 2**40}, ["seed", "2147483647"]),
        ({"seed": 2.0}, ["seed", "whole number (an int)", "2.0"]),
        ({"max_test": 10.0}, ["max_test", "whole number (an int)", "10.0"]),
        ({"fallback": 1}, ["fallback", "True or False", "got 1"]),
        ({"progress": "no"}, ["progress", "True or False", "'no'"]),
        ({"config": "recommended", "selector": "single-best"}, ["config fixes the pipeline", "'single-best'"]),
        ({"strategy": "refine", "selector": None}, ["selector is None", "zero-shot"]),
        ({"on_corrupt": "ignore"}, ["on_corrupt", "ignore", "skip"]),
        ({"device": "tpu"}, ["device", "tpu", "cpu"]),
        ({"selector": "oracle"}, ["selector", "oracle", "zap-hpo"]),
        ({"config": 5}, ["config", "5"]),
        ({"config": {"batch_size": 16.9}}, ["batch_size", "16.9", "whole number", "[16, 64]"]),
    ],
)
def test_the_estimator_refuses_a_bad_setting_before_reading_data(settings, words):
    with pytest.raises(ConfigError) as caught:
        ZAP(**settings).fit(NO_DATA)
    for word in words:
        assert word in str(caught.value), (word, str(caught.value))


def test_init_only_stores_settings():
    """scikit-learn style: a bad value is kept by __init__ (get_params/clone work) and refused by fit."""
    model = ZAP(budget=-1, threads=0)
    assert model.budget == -1 and model.threads == 0


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"batch_size": None}, ["batch_size = null", "not a number", "whole number in [16, 64]"]),
        ({"lr": "big"}, ['lr = "big"', "not a number", "[1e-05, 0.1]"]),
        ({"batch_size": 16.9}, ["batch_size = 16.9", "not a whole number"]),
        ({"batch_size": 128}, ["batch_size = 128", "out of range", "[16, 64]"]),
        ({"lr": 5.0}, ["invalid pipeline", "lr = 5.0", "out of range"]),
        ({"wd": "NaN"}, ["wd", "not a finite number"]),
        ({"optimizer": "sgd"}, ['optimizer = "sgd"', "'SGD', 'Adam', 'AdamW'"]),
        ({"nesterov": "yes"}, ['nesterov = "yes"', "true or false"]),
        ({"nesterov": 1}, ["nesterov = 1", "true or false"]),
        ({"freeze_portion": 0.15}, ["freeze_portion = 0.15", "0.1, 0.2"]),
        ({"architecture": None}, ["architecture = null", "mobilenetv2"]),
        ({"batchsize": 32}, ["unknown hyperparameter", "'batchsize'", "did you mean 'batch_size'"]),
        ({"optimizer": "Adam", "momentum": 0.9}, ["momentum = 0.9", "only when optimizer", '"Adam"']),
    ],
)
def test_a_config_file_with_a_bad_value_names_key_value_and_range(tmp_path, values, words):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(values))
    with pytest.raises(ConfigError) as caught:
        get_config(path)
    for word in words:
        assert word in str(caught.value), (word, str(caught.value))


def test_a_good_config_keeps_its_values():
    """The checks convert what they accept: a whole float for an integer, a numeric string, true/false text."""
    config = dict(get_config("recommended"))
    from zap.pipelines import complete

    completed = dict(complete(config | {"batch_size": 32.0, "lr": "0.001", "first_simple_model": "true"}))
    assert completed["batch_size"] == 32 and isinstance(completed["batch_size"], int)
    assert completed["lr"] == 0.001 and completed["first_simple_model"] is True
    assert completed == config


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["fit", NO_DATA, "--budget", "inf"], ["budget", "inf"]),
        (["fit", NO_DATA, "--budget", "nan"], ["budget", "nan"]),
        (["fit", NO_DATA, "--budget", "1e12"], ["budget", "604800"]),
        (["fit", NO_DATA, "--budget", "0"], ["budget must be a positive finite number", "got 0.0"]),
        (["fit", NO_DATA, "--budget", "5", "--threads", "0"], ["threads", "[1, 1024]"]),
        (["fit", NO_DATA, "--budget", "5", "--test-ratio", "1"], ["test_ratio", "(0, 1)"]),
        (["fit", NO_DATA, "--budget", "5", "--max-test", "0"], ["max_test", "got 0"]),
        (["fit", NO_DATA, "--budget", "5", "--seed", "-3"], ["seed", "got -3"]),
        (["suggest", NO_DATA, "--k", "0"], ["k must lie in [1, inf)", "got 0"]),
        (["suggest", NO_DATA, "--budget", "-1"], ["budget", "got -1.0"]),
        (["suggest", NO_DATA, "--threads", "0"], ["threads", "got 0"]),
        (["metafeatures", NO_DATA, "--seed", "-1"], ["seed", "got -1"]),
        (["metafeatures", NO_DATA, "--max-test", "0"], ["max_test", "got 0"]),
    ],
)
def test_the_cli_checks_arguments_before_reading_data(tmp_path, capsys, argv, words):
    out = tmp_path / "run"
    if argv[0] == "fit":
        argv = [*argv, "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "does not exist" not in err, err
    for word in words:
        assert word in err, (word, err)
    assert list(tmp_path.iterdir()) == []  # nothing written: not the run, not its partial folder


@pytest.mark.parametrize(("values", "word"), [({"batch_size": None}, "batch_size = null"),
                                              ({"lr": "big"}, 'lr = "big"'),
                                              ({"batch_size": 16.9}, "batch_size = 16.9"),
                                              ({"learning_rate": 0.1}, "learning_rate")])
def test_fit_checks_a_config_file_before_reading_data(tmp_path, capsys, values, word):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(values))
    assert main(["fit", NO_DATA, "--budget", "5", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert word in err and str(path) in err and "does not exist" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


def test_the_output_folder_is_checked_before_reading_data(tmp_path, capsys):
    """--out: an existing file, a folder of other files, the current folder, one holding the --test images,
    or a place zap cannot write are refused before the data is read; a missing parent is created."""
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    others = tmp_path / "others"
    (others / "images").mkdir(parents=True)
    (others / "notes.txt").write_text("mine")
    cases = [(a_file, "is an existing file"), (others, "folder of other files"),
             (Path("."), "current folder"), (Path("/proc"), "mount point"),
             (Path("/proc/zap-run"), "cannot write in /proc"),
             (a_file / "run", "cannot write in")]
    for out, words in cases:
        assert main(["fit", NO_DATA, "--budget", "5", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert words in err and "does not exist" not in err, err
    assert (others / "notes.txt").read_text() == "mine"
    earlier = tmp_path / "earlier"  # an earlier run's folder, with the images to predict put inside it
    (earlier / "images").mkdir(parents=True)
    (earlier / "summary.json").write_text("{}")
    assert main(["fit", NO_DATA, "--budget", "5", "--test", str(earlier / "images"), "--out", str(earlier)]) == 2
    assert "which the run reads" in capsys.readouterr().err

    nested = tmp_path / "a" / "b" / "run"
    assert main(["fit", NO_DATA, "--budget", "5", "--out", str(nested)]) == 2
    assert "does not exist" in capsys.readouterr().err  # the data check: every argument passed before it
    assert nested.parent.is_dir() and list(nested.parent.iterdir()) == []  # no partial folder left behind


def test_predict_checks_its_output_and_device_before_loading(tmp_path, capsys):
    import torch

    assert main(["predict", "/no/model", "/no/images", "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main(["predict", "/no/model", "/no/images", "--out", "/proc/p.csv"]) == 2
    assert "cannot write in /proc" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["predict", "/no/model", "/no/images", "--out", str(tmp_path / "p.csv"), "--device", "cuda"]) == 2
        assert "no CUDA GPU" in capsys.readouterr().err
