"""Bad input to the data layer: links out of the folder and link loops, hidden entries, a local folder named
like a bundled set, truncated and oversized images, FIFOs, damaged .npz archives, run folders inside the
data, and ASlib scenarios without data. Every case is a tiny real folder or file written here."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import pattern, write_folder
from test_aslib import arff, write_quality, write_runtime
from zap.benchmark.aslib import ScenarioError, read_scenario
from zap.data import DataError, from_arrays, from_folder, from_npz, load_dataset, unlabelled_folder
from zap.data.dataset import UnreadableImage, read_header
from zap.data.images import MAX_IMAGE_PIXELS
from zap.data.loaders import check_out_not_inside

PER_FOLDER = 24  # write_folder: 3 classes x 8 images


@pytest.fixture
def no_hang():
    """Fail (instead of blocking the suite) if opening a FIFO ever blocks again."""

    def alarm(signum, frame):
        raise TimeoutError("the loader blocked on a non-regular file")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def outside_images(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "elsewhere", n_classes=1, per_class=3) / "class_0"


def big_png(path: Path, side: int) -> Path:
    """A 1-bit canvas of side x side pixels: megapixels on paper, a few kilobytes on disk, written fast."""
    Image.new("1", (side, side)).save(path)
    return path


# ----------------------------------------------------------------------------------- symbolic links


def test_a_link_to_an_image_outside_the_folder_is_refused(tmp_path):
    root = write_folder(tmp_path / "d")
    target = outside_images(tmp_path) / "img_000.png"
    (root / "class_0" / "borrowed.png").symlink_to(target)
    with pytest.raises(DataError, match=r"(?s)borrowed\.png is a symbolic link to .*elsewhere.*outside the data "
                                        r"folder.*cp -rL.*follow_links=True"):
        load_dataset(root)
    assert len(load_dataset(root, follow_links=True)) == PER_FOLDER + 1


def test_a_class_folder_linked_from_outside_is_refused(tmp_path):
    root = write_folder(tmp_path / "d")
    (root / "class_x").symlink_to(outside_images(tmp_path), target_is_directory=True)
    with pytest.raises(DataError, match=r"class_x is a symbolic link to .*outside the data folder"):
        load_dataset(root)
    assert load_dataset(root, follow_links=True).n_classes == 4


def test_images_to_predict_follow_the_same_link_rules(tmp_path):
    folder = tmp_path / "to-predict"
    folder.mkdir()
    Image.fromarray(pattern(0, 0)).save(folder / "a.png")
    (folder / "b.png").symlink_to(outside_images(tmp_path) / "img_001.png")
    with pytest.raises(DataError, match=r"b\.png is a symbolic link to .*outside the data folder"):
        unlabelled_folder(folder)
    assert len(unlabelled_folder(folder, follow_links=True)) == 2
    assert len(unlabelled_folder(folder / "b.png")) == 1  # a file named directly is the user's own choice


def test_links_that_stay_inside_the_folder_are_followed(tmp_path):
    root = write_folder(tmp_path / "d")
    store = write_folder(root / ".store", n_classes=1, per_class=2) / "class_0"  # hidden: not a class itself
    (root / "class_1" / "more").symlink_to(store, target_is_directory=True)
    (root / "class_2" / "again.png").symlink_to(root / "class_2" / "img_000.png")
    ds = load_dataset(root)
    assert ds.n_classes == 3 and np.bincount(ds.labels).tolist() == [8, 10, 9]


@pytest.mark.parametrize("link", ["c_loop", "class_0/up"])
def test_a_link_back_to_an_enclosing_folder_is_a_loop(tmp_path, link):
    root = write_folder(tmp_path / "d")
    path = root / link
    path.symlink_to("." if path.parent == root else "..", target_is_directory=True)
    with pytest.raises(DataError, match=rf"{link} is a link to .*which contains the link itself: a loop"):
        load_dataset(root)
    with pytest.raises(DataError, match="a loop"):
        unlabelled_folder(root)


def test_a_class_linked_twice_is_refused(tmp_path):
    """The link sorts before its target, so the target is met second: the message still blames the link."""
    root = write_folder(tmp_path / "d")
    (root / "a_copy").symlink_to("class_0", target_is_directory=True)
    with pytest.raises(DataError, match=r"a_copy leads to the same folder as .*class_0 .*read twice.*"
                                        r"Delete the link .*a_copy"):
        load_dataset(root)


def test_broken_and_circular_links_are_bad_files(tmp_path):
    root = write_folder(tmp_path / "d")
    (root / "class_0" / "gone.png").symlink_to(root / "class_0" / "missing.png")
    (root / "class_1" / "a.png").symlink_to(root / "class_1" / "b.png")
    (root / "class_1" / "b.png").symlink_to(root / "class_1" / "a.png")
    with pytest.raises(DataError, match=r"(?s)3 file\(s\).*gone\.png \(a link to .*which does not exist\).*"
                                        r"a\.png \(a link that leads in a circle\)"):
        load_dataset(root)
    with pytest.warns(UserWarning, match="skipped 3"):
        assert len(load_dataset(root, on_corrupt="skip")) == PER_FOLDER


# ------------------------------------------------------------------------------------ hidden entries


def test_hidden_entries_are_ignored_at_every_level(tmp_path):
    root = write_folder(tmp_path / "d")
    write_folder(root / ".cache", n_classes=2)  # a hidden would-be class
    thumbs = root / "class_0" / ".thumbs"
    thumbs.mkdir()
    Image.fromarray(pattern(0, 99)).save(thumbs / "img_000.png")  # a real image, but hidden
    (root / "class_1" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "class_2" / "._img_000.png").write_bytes(b"\0\5\26\7AppleDouble")
    (root / "class_2" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    ds = load_dataset(root)
    assert ds.class_names == ["class_0", "class_1", "class_2"] and len(ds) == PER_FOLDER
    assert len(unlabelled_folder(root)) == PER_FOLDER


# ------------------------------------------------------------------- a local folder named like a bundled set


def test_an_existing_folder_wins_over_a_bundled_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_folder(tmp_path / "digits")
    for source in ("digits", "./digits", tmp_path / "digits"):
        ds = load_dataset(source)
        assert ds.class_names == ["class_0", "class_1", "class_2"] and len(ds) == PER_FOLDER
    bundled = load_dataset("bundled:digits")
    assert len(bundled) == 1797 and bundled.n_classes == 10


def test_bundled_name_without_a_folder_and_the_explicit_prefix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert len(load_dataset("digits")) == 1797
    with pytest.raises(DataError, match=r"no bundled dataset 'cifar'; the bundled ones are digits"):
        load_dataset("bundled:cifar")
    (tmp_path / "digits").write_text("not data")
    with pytest.raises(DataError, match=r"(?s)digits is a file but not an \.npz archive.*write bundled:digits"):
        load_dataset("digits")


def test_a_run_written_to_a_folder_named_like_a_bundled_set(tmp_path, monkeypatch):
    """`zap fit digits --out digits` leaves a run folder called digits; the next plain `digits` says why it
    is no longer the bundled set and how to get that."""
    monkeypatch.chdir(tmp_path)
    fake_run(tmp_path / "digits", "summary.json")
    with pytest.raises(DataError, match=r"(?s)digits is a zap run folder.*write bundled:digits for the bundled"):
        load_dataset("digits")


# ----------------------------------------------------------------------------------- damaged images


def jpeg_folder(root: Path) -> Path:
    for label in range(2):
        folder = root / f"c{label}"
        folder.mkdir(parents=True)
        for i in range(4):
            noisy = np.random.default_rng(10 * label + i).integers(0, 255, (48, 48, 3), dtype=np.uint8)
            Image.fromarray(noisy).save(folder / f"{i}.jpg", quality=90)
    return root


@pytest.mark.parametrize("suffix", ["jpg", "png"])
def test_a_truncated_image_is_caught_by_the_scan(tmp_path, suffix):
    root = jpeg_folder(tmp_path / "d") if suffix == "jpg" else write_folder(tmp_path / "d", n_classes=2, per_class=4)
    victim = sorted((root / sorted(os.listdir(root))[1]).iterdir())[2]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=rf"(?s)1 file\(s\).*{victim.name} \(damaged or truncated"):
        load_dataset(root)
    with pytest.warns(UserWarning, match=rf"skipped 1 .*{victim.name}"):
        ds = load_dataset(root, on_corrupt="skip")
    assert len(ds) == 7 and victim not in ds.paths
    assert all(ds.load(i).shape[:2] in ((48, 48), (16, 16)) for i in range(len(ds)))


def test_not_an_image_and_empty_files(tmp_path):
    root = write_folder(tmp_path / "d")
    (root / "class_0" / "notes.png").write_text("a text file renamed .png")
    (root / "class_1" / "empty.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"(?s)2 file\(s\).*notes\.png \(not an image format PIL can read\).*"
                                        r"empty\.png \(it is empty \(0 bytes\)\)"):
        load_dataset(root)


def test_an_oversized_image_is_refused_or_skipped_before_decoding(tmp_path):
    root = write_folder(tmp_path / "d")
    side = int(MAX_IMAGE_PIXELS**0.5) + 100
    big_png(root / "class_0" / "poster.png", side)
    with pytest.raises(DataError, match=rf"poster\.png \({side}x{side} = \d+ megapixels, over zap's limit of 50"):
        load_dataset(root)
    with pytest.warns(UserWarning, match="skipped 1"):
        assert len(load_dataset(root, on_corrupt="skip")) == PER_FOLDER
    with pytest.raises(UnreadableImage, match="megapixels"):
        read_header(root / "class_0" / "poster.png")


def test_a_decompression_bomb_is_refused(tmp_path):
    """Past twice PIL's own limit PIL refuses to open the file at all; that too names the file."""
    root = write_folder(tmp_path / "d")
    big_png(root / "class_1" / "bomb.png", 14_000)
    with pytest.raises(DataError, match=r"bomb\.png \((14000x14000 = 196 megapixels|it declares an enormous)"):
        load_dataset(root)


def test_an_image_replaced_by_a_huge_one_after_the_scan_is_refused_on_load(tmp_path):
    ds = load_dataset(write_folder(tmp_path / "d"))
    big_png(ds.paths[0], int(MAX_IMAGE_PIXELS**0.5) + 100)
    with pytest.raises(DataError, match="megapixels"):
        ds.load(0)


def test_huge_arrays_are_refused_without_touching_their_pixels():
    side = int(MAX_IMAGE_PIXELS**0.5) + 100
    x = np.broadcast_to(np.zeros((1, 1, 1), np.uint8), (4, side, side))  # no memory behind it
    with pytest.raises(DataError, match="megapixels"):
        from_arrays(x, np.array([0, 0, 1, 1]))


# -------------------------------------------------------------------------------- non-regular files


def test_a_fifo_named_npz_fails_at_once(tmp_path, no_hang):
    fifo = tmp_path / "x.npz"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match=r"x\.npz is a FIFO \(named pipe\), not a file or folder zap can read"):
        load_dataset(fifo)
    with pytest.raises(DataError, match="FIFO"):
        from_npz(fifo)


def test_a_fifo_among_the_images_is_a_bad_file(tmp_path, no_hang):
    root = write_folder(tmp_path / "d")
    os.mkfifo(root / "class_0" / "img.png")
    with pytest.raises(DataError, match=r"img\.png \(not a regular file but a FIFO"):
        load_dataset(root)
    with pytest.warns(UserWarning, match="skipped 1"):
        assert len(load_dataset(root, on_corrupt="skip")) == PER_FOLDER
    with pytest.raises(DataError, match=r"img\.png \(it is not a regular file but a FIFO"):
        unlabelled_folder(root / "class_0" / "img.png")
    with pytest.raises(UnreadableImage, match="FIFO"):
        read_header(root / "class_0" / "img.png")


def test_a_socket_among_the_images_is_a_bad_file(tmp_path):
    root = write_folder(tmp_path / "d")
    path = root / "class_2" / "s.png"
    server = socket.socket(socket.AF_UNIX)
    try:
        with contextlib.chdir(path.parent):  # a relative name keeps under the AF_UNIX path length
            server.bind(path.name)
    except OSError:
        pytest.skip("cannot create a unix socket here")
    with server, pytest.raises(DataError, match=r"s\.png \(not a regular file but a socket"):
        load_dataset(root)


# ------------------------------------------------------------------------------------- .npz archives


def test_a_torchvision_dataset_that_unpickles_an_unchecked_file_is_refused(tmp_path):
    from zap.data import from_torchvision

    with pytest.raises(DataError, match=r"does not read torchvision's LSUN: it unpickles an unchecked cache"):
        from_torchvision("lsun", tmp_path)


class Tripwire:
    """Unpickling this creates the file it names: a stand-in for code an archive might smuggle in."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_an_npz_with_pickled_objects_is_refused_without_running_them(tmp_path, arrays):
    marker = tmp_path / "code-ran"
    labels = np.empty(len(arrays[1]), dtype=object)
    labels[:] = [Tripwire(marker)] * len(labels)
    np.savez(tmp_path / "d.npz", x=arrays[0], y=labels)
    with pytest.raises(DataError, match=r"d\.npz: array 'y' holds Python objects.*does not unpickle"):
        load_dataset(tmp_path / "d.npz")
    assert not marker.exists()


def bad_npz(case: str, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    nan = x.astype(np.float32) / 255
    nan[2, 1, 1] = np.nan
    return {
        "no y": {"x": x},
        "no arrays": {},
        "lengths": {"x": x, "y": y[:-3]},
        "no images": {"x": x[:0], "y": y[:0]},
        "no images, float": {"x": nan[:0], "y": y[:0]},
        "nan pixels": {"x": nan, "y": y},
        "float labels": {"x": x, "y": y + 0.5},
        "string labels": {"x": x, "y": y.astype(str)},
        "2-d names": {"x": x, "y": y, "class_names": np.array([["a", "b", "c"]])},
        "repeated names": {"x": x, "y": y, "class_names": np.array(["a", "b", "a"])},
        "sparse labels": {"x": x[:4], "y": np.array([0, 0, 10**12, 10**12])},
        "complex pixels": {"x": x.astype(np.complex64), "y": y},
        "zero-size images": {"x": x[:, :0], "y": y},
    }[case]


NPZ_MESSAGES = {
    "no y": r"has no array 'y'",
    "no arrays": r"has no array 'x' or 'y'",
    "lengths": r"30 images but 27 labels",
    "no images": r"the image array is empty \(0 images\)",
    "no images, float": r"the image array is empty",
    "nan pixels": r"NaN or inf values \(first at image #2\)",
    "float labels": r"whole numbers 0..K-1.*0\.5",
    "string labels": r"labels must be integers 0..K-1, got dtype <U",
    "2-d names": r"'class_names' must be a 1-D array",
    "repeated names": r"class_names repeat \['a'\]",
    "sparse labels": r"labels run up to 1000000000000 but there are only 4 images",
    "complex pixels": r"images must be numeric .* got dtype complex64",
    "zero-size images": r"have no pixels",
}


@pytest.mark.parametrize("case", sorted(NPZ_MESSAGES))
def test_an_npz_with_wrong_contents_says_what_is_wrong(tmp_path, arrays, case):
    np.savez(tmp_path / "d.npz", **bad_npz(case, *arrays))
    with pytest.raises(DataError, match=NPZ_MESSAGES[case]):
        load_dataset(tmp_path / "d.npz")


def test_a_damaged_or_mislabelled_npz(tmp_path, arrays):
    np.save(tmp_path / "single.npy", arrays[0])
    (tmp_path / "single.npy").rename(tmp_path / "single.npz")
    with pytest.raises(DataError, match=r"single\.npz holds a single array \(an \.npy file\)"):
        load_dataset(tmp_path / "single.npz")
    (tmp_path / "junk.npz").write_bytes(b"PK\3\4 this is not a zip archive")
    with pytest.raises(DataError, match=r"cannot read .*junk\.npz as an \.npz archive"):
        load_dataset(tmp_path / "junk.npz")
    np.savez_compressed(tmp_path / "cut.npz", x=arrays[0], y=arrays[1])
    data = (tmp_path / "cut.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[:200] + bytes(len(data) - 200))
    with pytest.raises(DataError, match=r"cut\.npz"):
        load_dataset(tmp_path / "cut.npz")


@pytest.mark.parametrize(("x", "message"), [
    (np.float64(3.0), r"got shape \(\)"),
    ([np.zeros((4, 4)), np.zeros((5, 5))], r"images do not form one array"),
    (np.zeros((2, 4, 4), dtype=bool), r"got dtype bool"),
])
def test_arrays_that_are_not_images(x, message):
    with pytest.raises(DataError, match=message):
        from_arrays(x, np.array([0, 1]))


# ------------------------------------------------------------------------------ run folders in the data


def fake_run(folder: Path, marker: str) -> Path:
    (folder / marker).parent.mkdir(parents=True, exist_ok=True)
    (folder / marker).write_text("{}")
    Image.fromarray(pattern(0, 0)).save(folder / "learning_curve.png")
    return folder


@pytest.mark.parametrize("marker", ["summary.json", "model/model.json"])
def test_run_folders_inside_the_data_are_not_classes(tmp_path, marker):
    root = write_folder(tmp_path / "d")
    fake_run(root / "runs", marker)
    fake_run(root / "class_0" / "old-run", marker)
    with pytest.warns(UserWarning, match=r"ignored 2 zap run folder\(s\) inside .*move it out"):
        ds = load_dataset(root)
    assert ds.class_names == ["class_0", "class_1", "class_2"] and len(ds) == PER_FOLDER
    with pytest.warns(UserWarning, match="ignored 2"):
        assert len(unlabelled_folder(root)) == PER_FOLDER


def test_a_run_folder_given_as_data_is_refused(tmp_path):
    run = fake_run(write_folder(tmp_path / "run"), "summary.json")
    with pytest.raises(DataError, match=r"run is a zap run folder \(it holds summary\.json or model/model\.json\)"):
        from_folder(run)


def test_check_out_not_inside(tmp_path, arrays):
    root = write_folder(tmp_path / "d")
    for out in (root / "runs" / "a", root, root / "class_0" / ".." / "x"):
        with pytest.raises(DataError, match=r"output folder .* \(--out\) is inside the data folder .*Choose an --out"):
            check_out_not_inside(root, out)
    check_out_not_inside(root, tmp_path / "runs")
    check_out_not_inside(root, tmp_path / "d-runs")  # a sibling whose name merely starts alike
    np.savez(tmp_path / "a.npz", x=arrays[0], y=arrays[1])
    check_out_not_inside(tmp_path / "a.npz", tmp_path / "a.npz" / "out")
    check_out_not_inside("digits", "digits/out")


# ---------------------------------------------------------------------------- folders with too little


def test_folders_with_too_little_in_them(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty has no class sub-folders; expected"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(DataError, match="single class"):
        load_dataset(write_folder(tmp_path / "one", n_classes=1))
    root = write_folder(tmp_path / "d")
    (root / "class_3").mkdir()
    (root / "class_3" / ".DS_Store").write_bytes(b"\0")
    with pytest.raises(DataError, match=r"'class_3' \(0 images\)"):
        load_dataset(root)
    with pytest.raises(DataError, match=r"holds no files"):
        unlabelled_folder(root / "class_3")


def test_on_corrupt_is_checked_first(tmp_path):
    for call in (load_dataset, from_folder, unlabelled_folder):
        with pytest.raises(DataError, match="on_corrupt must be 'fail' or 'skip', got 'ignore'"):
            call(tmp_path, on_corrupt="ignore")


# ------------------------------------------------------------------------------- ASlib without data


def rewrite_rows(folder: Path, file: str, rows: list[str]) -> None:
    """Keep a file's header, replace its @DATA rows."""
    text = (folder / file).read_text()
    (folder / file).write_text(text[: text.index("@DATA")] + "@DATA\n" + "".join(f"{r}\n" for r in rows))


@pytest.mark.parametrize("file", ["algorithm_runs.arff", "feature_values.arff", "cv.arff"])
def test_an_aslib_file_with_a_header_but_no_rows(tmp_path, file):
    folder = write_runtime(tmp_path)
    rewrite_rows(folder, file, [])
    with pytest.raises(ScenarioError, match=rf"{file}: no rows after @DATA; a scenario needs"):
        read_scenario(folder)


def test_an_aslib_scenario_with_every_performance_missing(tmp_path):
    folder = write_quality(tmp_path)
    rewrite_rows(folder, "algorithm_runs.arff", [f"'q,{k}',1,{a},?,ok" for k in range(9) for a in "XY"])
    with pytest.raises(ScenarioError, match=r"every 'accuracy' value is missing .* no instance has a measured run"):
        read_scenario(folder)


def test_an_aslib_runtime_scenario_where_no_run_reports_a_runtime(tmp_path):
    folder = write_runtime(tmp_path)
    rewrite_rows(folder, "algorithm_runs.arff", [f"i{k:02d},1,{a},?,crash" for k in range(12) for a in "ABC"])
    with pytest.raises(ScenarioError, match=r"every 'runtime' value is missing"):
        read_scenario(folder)


def test_an_aslib_fold_or_measure_of_the_wrong_kind(tmp_path):
    folder = write_runtime(tmp_path)
    rewrite_rows(folder, "cv.arff", [f"i{k:02d},1,{'?' if k == 4 else 1 + k % 3}" for k in range(12)])
    with pytest.raises(ScenarioError, match=r"cv\.arff: instance 'i04' has fold `\?` \(missing\), not a fold number"):
        read_scenario(folder)
    folder = write_quality(tmp_path / "q")
    (folder / "algorithm_runs.arff").write_text(arff(
        "RUNS", ["instance_id STRING", "repetition NUMERIC", "algorithm STRING", "accuracy STRING",
                 "runstatus {ok, crash}"], [f"'q,{k}',1,X,high,ok" for k in range(9)]))
    with pytest.raises(ScenarioError, match=r"performance measure 'accuracy' has type string"):
        read_scenario(folder)
