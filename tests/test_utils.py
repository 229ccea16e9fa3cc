"""zap.utils: the shared hash, seed and atomic-write helpers."""

import json

import pytest

from zap.utils import atomic_path, atomic_write_json, cpu_model, is_atomic_tmp, name_seed, number_text, stable_hash


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    """Catches a non-atomic write: a killed or failing writer must not leave half a fold file or plan."""
    path = tmp_path / "fold.json"
    atomic_write_json(path, {"a": 1})
    with pytest.raises(TypeError), atomic_path(path) as tmp:
        tmp.write_text("{half")
        raise TypeError("killed mid-write")
    assert json.loads(path.read_text()) == {"a": 1} and list(tmp_path.iterdir()) == [path]
    atomic_write_json(path, {"b": [1, 2]}, indent=None)
    assert path.read_text() == '{"b": [1, 2]}\n'


def test_each_atomic_write_has_its_own_hidden_temporary_name(tmp_path):
    """Catches a fixed `name.tmp`: two writers of one file would rename each other's half-written file into
    place, and a kill left a visible `name.tmp` beside the outputs (a helper's kill sweep)."""
    path = tmp_path / "predictions.csv"
    with atomic_path(path) as first, atomic_path(path) as second:
        assert first != second and first.parent == tmp_path
        assert first.name.startswith(".") and is_atomic_tmp(first.name, "predictions.csv")
        first.write_text("a")
        second.write_text("b")
    assert path.read_text() == "a" and list(tmp_path.iterdir()) == [path]
    assert not is_atomic_tmp("predictions.csv", "predictions.csv") and not is_atomic_tmp(".x.tmp", "predictions.csv")


def test_hash_and_seed_depend_on_content_not_on_order_or_letters_alone():
    """Catches a hash that depends on key order (one config, two pipeline ids) and a seed that anagrams share."""
    assert stable_hash({"a": 1, "b": 2}) == stable_hash({"b": 2, "a": 1}) != stable_hash({"a": 1, "b": 3})
    assert len(stable_hash([1], 12)) == 12
    assert name_seed("digits-sklearn") != name_seed("sklearn-digits")
    assert 0 <= name_seed("x") < 2**31


def test_a_failed_rename_leaves_no_temporary_file(tmp_path):
    """Writing over a folder fails at the final rename, after the work: the temporary file goes with it."""
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(OSError):
        atomic_write_json(folder, {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and not list(folder.iterdir())


def test_cpu_model_tells_apart_hosts_that_share_a_generic_name():
    zen1 = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 23\nmodel\t\t: 1\nmodel name\t: AMD EPYC\n" \
           "stepping\t: 2\n\nprocessor\t: 1\ncpu family\t: 99\nmodel name\t: other\n"
    zen3 = zen1.replace("cpu family\t: 23", "cpu family\t: 25", 1)
    assert cpu_model(zen1) == "AMD EPYC (family 23, model 1, stepping 2)"  # the first processor's fields
    assert cpu_model(zen3) != cpu_model(zen1)
    assert cpu_model("model name\t: Some CPU\n") == "Some CPU"
    assert cpu_model("")  # no fields at all: still a name (platform's), never empty


def test_number_text_is_short_unless_shortness_hides_a_difference():
    assert [number_text(v) for v in (20.0, 1.5, 60)] == ["20", "1.5", "60"]
    assert number_text(20.0000001) == "20.0000001" and number_text(1e-300) == "1e-300"
