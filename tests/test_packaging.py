"""zap as an installed package: what the wheel carries, where shipped files are found, and how saved
models and selectors guard against being used by other software than wrote them."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tomllib
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from zap import resources
from zap.cli import main
from zap.metadataset.artifact import ARTIFACT_SCHEMA
from zap.pipelines import encode, get_config
from zap.resources import VersionMismatchWarning
from zap.selectors.base import SelectorError, load_selector
from zap.selectors.baselines import SingleBest
from zap.selectors.trained import TRAINABLE

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DATA = ("zap/pipelines/configs/recommended.json", "zap/pipelines/configs/autodl-default.json",
                "zap/data/core/catalogue.json", "zap/finetune/ref_costs.json", "zap/assets/chelsea.jpg",
                "zap/assets/coffee.jpg",
                "zap/_home/artifacts/metadataset/v1.json.gz",
                f"zap/_home/artifacts/metadataset/{resources.SHIPPED_METADATASET}.json.gz")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the project (the build writes build/ and egg-info beside the sources)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("src", "artifacts"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w",
                    str(out), str(source)], check=True, capture_output=True)
    return next(out.glob("zap-*.whl"))


def test_the_wheel_carries_every_module_the_package_data_and_the_shipped_selectors(wheel):
    """Catches a module, a data file or a shipped selector that `pip install .` would leave out (the
    named pipelines and the catalogue once were: `get_config("recommended")` failed in a wheel)."""
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT / "src").as_posix() for p in (ROOT / "src" / "zap").rglob("*.py")}
    assert modules - names == set()
    assert set(PACKAGE_DATA) - names == set()
    assert {f"zap/_home/artifacts/selectors/{n}.zsel" for n in TRAINABLE} - names == set()
    shipped = ("fallback.json", "fallback--final.json", "refine-curves.pt")  # the fallback rules, refine's predictor
    assert {f"zap/_home/artifacts/selectors/{n}" for n in shipped} - names == set()


def test_an_installed_wheel_finds_its_files_without_the_checkout(wheel, tmp_path):
    """Installed on its own (not editable), zap reads the named pipelines, the catalogue and the shipped
    selectors from the wheel: catches any path that only holds inside the repository."""
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site),
                    str(wheel)], check=True, capture_output=True)
    probe = ("import zap, zap.resources as r; from zap.pipelines import get_config; "
             "from zap.data.core.store import catalogue; "
             "print(zap.__file__, r.home(), len(catalogue()), get_config('recommended')['architecture'], "
             "sorted(p.name for p in r.selectors_dir().iterdir()))")
    env = {k: v for k, v in os.environ.items() if k not in (resources.HOME_VARIABLE, resources.SELECTORS_VARIABLE)}
    env["PYTHONPATH"] = str(site)
    shown = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, check=True, capture_output=True,
                           text=True).stdout.split(" ", 3)
    assert shown[0].startswith(str(site)) and shown[1] == str(site / "zap" / "_home")
    assert int(shown[2]) > 0 and shown[3].startswith("mobilenetv2")
    assert all(f"{n}.zsel" in shown[3] for n in TRAINABLE)


def test_pyproject_lists_every_folder_of_the_package():
    """The packages are listed by hand in pyproject.toml (find cannot add the shipped artifacts): catches a
    new sub-package that the wheel would silently leave out."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {".".join(p.relative_to(ROOT / "src").parts) for p in (ROOT / "src" / "zap").rglob("*")
               if p.is_dir() and p.name != "__pycache__" and any(f.is_file() for f in p.iterdir())}
    assert folders | {"zap"} <= listed


# ------------------------------------------------------------------------------------------- the home


def test_zap_home_moves_every_shipped_artifact_and_zap_selectors_only_the_selectors(tmp_path, monkeypatch):
    """Catches a path that ignores the documented setting."""
    monkeypatch.delenv(resources.SELECTORS_VARIABLE, raising=False)
    monkeypatch.setenv(resources.HOME_VARIABLE, str(tmp_path))
    assert resources.home() == tmp_path
    assert resources.selectors_dir() == tmp_path / "artifacts" / "selectors"
    shipped = resources.SHIPPED_METADATASET
    assert resources.metadataset_artifact() == tmp_path / "artifacts" / "metadataset" / f"{shipped}.json.gz"
    assert resources.plan_dir() == tmp_path / "metadataset" / shipped
    # a version named keeps its own files whichever the home ships (v2's level-20 choice reads v1's artifact)
    monkeypatch.setattr(resources, "ARTIFACT", Path("artifacts", "metadataset", "v9.json.gz"))
    monkeypatch.setattr(resources, "PLAN", Path("metadataset", "v9"))
    assert resources.metadataset_artifact("v1") == tmp_path / "artifacts" / "metadataset" / "v1.json.gz"
    assert resources.plan_dir("v1") == tmp_path / "metadataset" / "v1"
    assert resources.metadataset_artifact().name == "v9.json.gz" and resources.plan_dir().name == "v9"
    monkeypatch.setenv(resources.SELECTORS_VARIABLE, str(tmp_path / "mine"))
    assert resources.selectors_dir() == tmp_path / "mine" and resources.home() == tmp_path


def test_without_zap_home_an_editable_install_uses_its_checkout_and_a_wheel_its_copy(monkeypatch):
    """The test suite runs from an editable install (`make install`): its home is this checkout, read
    from the installer's record; without that record the home is the copy inside the package."""
    monkeypatch.delenv(resources.HOME_VARIABLE, raising=False)
    monkeypatch.delenv(resources.SELECTORS_VARIABLE, raising=False)
    assert resources.editable_checkout() == ROOT and resources.home() == ROOT
    assert (resources.selectors_dir() / "zap-hpo.zsel").is_file() and resources.metadataset_artifact().is_file()
    monkeypatch.setattr(resources, "editable_checkout", lambda: None)
    assert resources.home() == Path(str(resources.package_data("zap", "_home")))


def test_the_install_record_is_read_as_pep_610_says(monkeypatch):
    """Only an editable install from a local folder names a checkout; a wheel or a remote source does not."""

    class Record:
        def __init__(self, payload):
            self.text = json.dumps(payload)

        def read_text(self, name):
            return self.text if name == "direct_url.json" else None

    for payload, expected in (({"url": "file:///opt/my%20zap", "dir_info": {"editable": True}}, Path("/opt/my zap")),
                              ({"url": "file:///opt/zap", "dir_info": {}}, None),
                              ({"url": "https://example.org/zap.tar.gz", "archive_info": {}}, None)):
        monkeypatch.setattr(resources.importlib.metadata, "distribution", lambda _, p=payload: Record(p))
        assert resources.editable_checkout() == expected


# ------------------------------------------------------------------------------------------- versions


def _selector(tmp_path: Path) -> Path:
    """A Single-best selector over the two named pipelines, saved as `zap meta-train` saves one."""
    configs = [dict(get_config(name)) for name in ("autodl-default", "recommended")]
    enc = np.array([encode(c) for c in configs])
    x = np.array([[1, 10, 500, 32], [3, 5, 900, 64], [1, 20, 300, 16], [3, 8, 700, 48]], dtype=float)
    performance = np.array([[0.5, 0.6], [0.4, 0.7], [0.6, 0.5], [0.3, 0.8]])
    selector = SingleBest().fit(x, enc, performance, np.array(["a", "a", "b", "b"]))
    context = {"protocol_hash": "p1", "candidates": [{"id": str(i), "config": c} for i, c in enumerate(configs)]}
    return selector.save(tmp_path / "single-best.zsel", context)


def test_a_saved_selector_records_versions_and_warns_when_they_differ(tmp_path, monkeypatch):
    """Catches a selector loaded silently under another scikit-learn or torch, whose saved estimators or
    weights may then behave otherwise."""
    path = _selector(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_selector(path)  # saved by the running versions: no warning
    from zap.selectors import store

    monkeypatch.setattr(store, "versions", lambda: resources.versions() | {"scikit-learn": "0.24.0"})
    _selector(tmp_path)  # as another scikit-learn would have saved it
    with pytest.warns(VersionMismatchWarning, match=r"scikit-learn 0\.24\.0.*zap meta-train") as caught:
        load_selector(path)
    assert caught[0].message.saved == {"scikit-learn": "0.24.0"}


def test_a_saved_model_records_versions_and_warns_when_they_differ(tmp_path):
    from zap.finetune.predictor import Predictor
    from zap.pipelines.zoo import create_model

    predictor = Predictor(create_model("mobilenetv2", 2, pretrained=False), "mobilenetv2", ["a", "b"], 32, 3,
                          (0.5,) * 3, (0.5,) * 3, {"architecture": "mobilenetv2"}, "0" * 12)
    folder = predictor.save(tmp_path / "model")
    meta = json.loads((folder / "model.json").read_text())
    assert set(meta["versions"]) == set(resources.RECORDED_VERSIONS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Predictor.load(folder)
    (folder / "model.json").write_text(json.dumps(meta | {"versions": meta["versions"] | {"torch": "1.6.0"}}))
    with pytest.warns(VersionMismatchWarning, match=r"torch 1\.6\.0.*re-run `zap fit`"):
        Predictor.load(folder)


def test_the_shipped_selectors_load_under_every_check_without_a_warning(monkeypatch):
    """The shipped selectors record the versions that trained them (those of this checkout) and must pass
    the checks `zap suggest` makes: catches a change of the search space's encoding, or a re-exported
    meta-dataset, that leaves them stale."""
    monkeypatch.delenv(resources.HOME_VARIABLE, raising=False)
    monkeypatch.delenv(resources.SELECTORS_VARIABLE, raising=False)
    folder = resources.selectors_dir()
    from zap.selectors.trained import home_protocol_hash

    protocol = home_protocol_hash(folder)
    assert protocol is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error", VersionMismatchWarning)
        for name in ("single-best", "zap-as"):
            assert load_selector(folder / f"{name}.zsel", encode=encode, expect_protocol=protocol).context


# --------------------------------------------------------------------------------------------- hashes


def test_a_selector_whose_candidates_are_now_encoded_otherwise_is_refused(tmp_path):
    """Catches a selector scoring encodings it never learned from after the search space changed."""
    path = _selector(tmp_path)
    assert load_selector(path, encode=encode).selector.spec_hash_
    with pytest.raises(SelectorError, match="encodes them as .*zap meta-train"):
        load_selector(path, encode=lambda config: np.append(encode(config), 1.0))


def test_a_selector_without_candidate_configurations_cannot_be_checked(tmp_path):
    path = _selector(tmp_path)
    selector = load_selector(path).selector
    selector.save(path, {"protocol_hash": "p1"})
    with pytest.raises(SelectorError, match="no candidate configurations"):
        load_selector(path, encode=encode)


def _home(home: Path, monkeypatch, protocol_hash: str) -> None:
    """A zap home holding the shipped Single-best selector and the shipped meta-dataset, re-labelled as
    measured under `protocol_hash` (a whole artifact: loading checks its shape before its hash)."""
    selectors, metadataset = home / "artifacts" / "selectors", home / "artifacts" / "metadataset"
    selectors.mkdir(parents=True)
    metadataset.mkdir(parents=True)
    shutil.copy(ROOT / "artifacts" / "selectors" / "single-best.zsel", selectors)
    with gzip.open(ROOT / "artifacts" / "metadataset" / "v1.json.gz", "rt") as handle:
        payload = json.load(handle)
    assert payload["schema"] == ARTIFACT_SCHEMA
    with gzip.open(home / resources.ARTIFACT, "wt") as handle:  # the name the home ships
        json.dump({**payload, "protocol_hash": protocol_hash}, handle)
    monkeypatch.setenv(resources.HOME_VARIABLE, str(home))
    monkeypatch.delenv(resources.SELECTORS_VARIABLE, raising=False)


def test_suggest_refuses_selectors_trained_before_the_homes_meta_dataset_changed(tmp_path, monkeypatch, capsys):
    """A meta-dataset re-exported under another protocol without `zap meta-train` after it: the home's
    selectors rank candidates by numbers measured otherwise. The same home with the selector's own
    protocol passes, so the check is not simply always failing."""
    shipped = load_selector(ROOT / "artifacts" / "selectors" / "single-best.zsel").context["protocol_hash"]
    _home(tmp_path / "good", monkeypatch, shipped)
    assert main(["suggest", "digits", "--selector", "single-best", "--k", "1"]) == 0
    _home(tmp_path / "stale", monkeypatch, "another-protocol")
    capsys.readouterr()
    assert main(["suggest", "digits", "--selector", "single-best"]) == 2
    error = capsys.readouterr().err
    assert "another-protocol" in error and "zap meta-train" in error


def test_fit_refuses_a_stale_selector_before_training(tmp_path, monkeypatch, capsys):
    _home(tmp_path / "stale", monkeypatch, "another-protocol")
    out = tmp_path / "fit"
    assert main(["fit", "digits", "--budget", "1", "--selector", "single-best", "--out", str(out)]) == 2
    assert "zap meta-train" in capsys.readouterr().err and not (out / "summary.json").exists()


def test_the_command_starts_light_and_a_ctrl_c_while_it_imports_is_one_line(monkeypatch, capsys):
    """Importing torch and scikit-learn takes seconds on a busy machine; a Ctrl-C then printed a traceback from
    inside an importer. The package root imports nothing heavy, and the entry point guards the import."""
    import importlib.abc

    from zap import launch

    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["zap"] == "zap.launch:main"
    probe = "import sys, zap, zap.launch; print(sorted({'torch', 'sklearn', 'zap.api'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout == "[]\n"

    class CtrlCWhileImporting(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "zap.cli":
                raise KeyboardInterrupt
            return None

    monkeypatch.delitem(sys.modules, "zap.cli")
    monkeypatch.setattr(sys, "meta_path", [CtrlCWhileImporting(), *sys.meta_path])
    assert launch.main(["--version"]) == 130
    assert capsys.readouterr().err == "zap: interrupted while starting; nothing was done\n"
    monkeypatch.undo()
    probe = "import zap; print(zap.scoring.alc.__name__, zap.pipelines.encode.__name__, zap.ZAP.__name__)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout == "alc encode ZAP\n"
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = __import__("zap").nothing
