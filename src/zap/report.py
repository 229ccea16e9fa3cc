"""What `zap fit` and `zap predict` write: curve CSV and PNG, prediction CSVs, anytime predictions, summary.json,
and how a run's folder is put into place whole.

A run folder is one set: a curve, a summary and a model from the same run, never a mix. `zap fit --out DIR`
writes into `DIR.partial-<pid>`, a sibling of DIR on the same file system, whose `summary.json` says
`"status": "incomplete"` from its first moment (with the curve so far beside it while training runs); the
final summary is the last file written. Then the whole folder takes DIR's place by rename. A sibling, not a
folder inside DIR: files moved out of `DIR/.incomplete-<pid>/` one by one would pass through a state with
the new curve beside the old summary and model, and the old run would have to go before the new one is in
place; a sibling replaces all of DIR in one step.

Putting it into place: where DIR does not exist, one rename. Where it does (an earlier run, or an empty
folder), Linux swaps the two folders in one atomic step (`renameat2` with RENAME_EXCHANGE), so DIR holds the
old run or the new one at every instant, never neither; then the partial name, which now holds the old run,
is deleted. Elsewhere (another system, a file system without the exchange) it takes two renames: DIR to
`DIR.previous-<pid>`, the partial folder to DIR, then the backup is deleted; a kill between the two leaves
no DIR, the previous run in `DIR.previous-<pid>` and the new complete one in `DIR.partial-<pid>`, and
`zap predict DIR` says so and names both (rename the one you want to DIR). A symlink `DIR -> runs/<id>`
swapped by rename would be atomic too, but DIR would stop being a plain folder one can copy or archive.

What SIGKILL leaves, at any moment: DIR as it was (the previous complete run, or nothing) beside a folder
named `.partial-<pid>` whose summary says "incomplete" (or, for the instant after the exchange, the old
run under that name, its summary deleted first); or the new complete run in DIR. A `DIR.partial-*` or
`DIR.previous-*` folder is never the current run: delete it once no `zap fit` of that pid runs.

Ctrl-C mid-training saves what the run had, with status "interrupted". Such a run takes DIR's place only
where DIR holds no complete run; over a complete one it goes to `DIR.interrupted`, and DIR stays as it was.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import errno
import glob
import itertools
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zap.data.dataset import ImageDataset
from zap.errors import ArtifactError, ConfigError
from zap.finetune.clock import Budget
from zap.scoring import AlcSpec, LearningCurve, time_transform
from zap.utils import atomic_path, atomic_write_json, plain_text_plots

PARTIAL, PREVIOUS = ".partial-", ".previous-"  # the suffixes, before the pid, of a run folder not in place
INTERRUPTED = ".interrupted"  # where an interrupted run goes when DIR holds a complete one (`RunFolder.publish`)
FINAL_STATUSES = ("ok", "diverged", "late")  # a complete run's summary status; "interrupted" is a run cut short
SUMMARY, CURVE, MODEL = "summary.json", "learning_curve.csv", "model"
AT_FDCWD, RENAME_EXCHANGE = -100, 2  # from <fcntl.h> and <linux/fs.h>


def image_names(images: ImageDataset) -> list[str]:
    paths = getattr(images, "paths", None)
    return [str(p) for p in paths] if paths is not None else [f"#{i}" for i in range(len(images))]


# A spreadsheet runs a cell that starts with one of these as a formula, quoted or not (OWASP's "CSV injection")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(text: str) -> str:
    """A file or class name as a CSV text cell a spreadsheet shows, never runs: names come from folders a user
    may have been sent, and `=HYPERLINK(...)` is a legal folder name. The leading apostrophe is the usual
    guard (docs/security.md)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_predictions(path: Path, names: list[str], probabilities: np.ndarray, class_names: list[str]) -> None:
    """CSV: file, predicted class name, one probability column per class (written whole or not at all)."""
    shown = [spreadsheet_text(c) for c in class_names]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "predicted", *shown])
        for name, row in zip(names, probabilities, strict=True):
            writer.writerow([spreadsheet_text(name), shown[int(row.argmax())], *(f"{p:.6g}" for p in row)])


@plain_text_plots
def plot_curve(curve: LearningCurve, budget: Budget, path: Path, title: str, t0: float | None = None) -> None:
    """NAUC and accuracy against the budget clock on the ALC's log axis, the scored area shaded."""
    import matplotlib.pyplot as plt

    spec = AlcSpec(budget.amount, t0)
    times, scores = curve.times(budget.clock), curve.column("nauc")
    x = np.concatenate([[0.0], time_transform(times, spec), [1.0]])
    y = np.concatenate([[0.0], scores, [scores[-1] if len(scores) else 0.0]])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.fill_between(x, y, step="post", alpha=0.25, label="ALC area")
    ax.step(x, y, where="post", label="NAUC")
    ax.plot(time_transform(times, spec), curve.column("accuracy"), "o", ms=3, label="accuracy")
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000) if t <= budget.amount]
    ax.set_xticks(time_transform(np.array(ticks, dtype=float), spec), [str(t) for t in ticks])
    unit = "steps" if budget.clock == "steps" else f"{budget.clock} seconds"
    ax.set(xlabel=f"{unit} (log axis, t0 = {spec.resolved_t0:g})", ylabel="score", ylim=(min(0, y.min()), 1),
           xlim=(0, 1), title=title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


@plain_text_plots
def plot_refine(refine: dict[str, Any], budget: Budget, path: Path, title: str, t0: float | None = None) -> None:
    """What `refine` did: each candidate's own predictions (test NAUC, or validation where there is no test
    split) on the global clock, the answer standing in black, a dashed line wherever the budget moved to
    another candidate, and the commit."""
    import matplotlib.pyplot as plt

    spec = AlcSpec(budget.amount, t0)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    names = {c["rank"]: c.get("name") or c.get("pipeline_id") for c in refine.get("candidates", [])}
    shown = [1.0]
    for rank, points in sorted(refine.get("curves", {}).items(), key=lambda item: int(item[0])):
        if points:
            t = np.array([p[0] for p in points])
            y = np.array([p[2] if np.isfinite(p[2]) else p[1] for p in points])
            shown.extend(y.tolist())
            ax.step(time_transform(t, spec), y, where="post", marker="o", ms=3, alpha=0.7,
                    label=f"#{rank} {names.get(int(rank), '')}"[:28])
    answers = refine.get("answers", [])
    if answers:
        t = np.array([a["t"] for a in answers] + [budget.amount])
        y = np.array([a["score"] for a in answers] + [answers[-1]["score"]])
        ax.step(time_transform(t, spec), y, where="post", color="black", lw=2, label="answer")
    slices = refine.get("slices", [])
    for previous, current in itertools.pairwise(slices):
        if current["arm"] != previous["arm"]:
            ax.axvline(time_transform(current["global_start"], spec), ls="--", color="grey", lw=0.8)
    if slices and refine.get("committed") is not None:
        last = slices[-1]["global_start"]
        ax.axvline(time_transform(last, spec), color="red", lw=1.2, label=f"commit to #{refine['committed']}")
    ticks = [v for v in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000) if v <= budget.amount]
    ax.set_xticks(time_transform(np.array(ticks, dtype=float), spec), [str(v) for v in ticks])
    unit = "steps" if budget.clock == "steps" else f"{budget.clock} seconds"
    low = min(shown)
    ax.set(xlabel=f"{unit}, all candidates together (log axis)", ylabel="NAUC", xlim=(0, 1),
           ylim=(max(0.0, min(0.0, low) if low < 0.5 else low - 0.05), 1.0), title=title)
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_anytime(out: Path, estimator) -> None:
    """A fitted `zap.ZAP`'s anytime predictions of its extra images: each in `anytime_predictions/`, an
    index of when each was made, and the saved model's as `test_predictions.csv`: the last anytime one, or
    after a refit the refitted model's, so the file always agrees with `zap predict` on `model/`."""
    folder = out / "anytime_predictions"
    folder.mkdir(exist_ok=True)
    names, classes = image_names(estimator.extra_), list(estimator.classes_)
    with open(folder / "index.csv", "w") as index:
        index.write("n,wall_s,cpu_s,steps,file\n")
        for n, pred in enumerate(estimator.result_.extra_predictions):
            write_predictions(folder / f"{n:04d}.csv", names, pred.probabilities, classes)
            index.write(f"{n},{pred.wall_s:.3f},{pred.cpu_s:.3f},{pred.steps},{n:04d}.csv\n")
    final = getattr(estimator, "refit_extra_probabilities_", None)
    if final is None and estimator.result_.extra_predictions:
        final = estimator.result_.extra_predictions[-1].probabilities
    if final is not None:
        write_predictions(out / "test_predictions.csv", names, final, classes)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """JSON that may hold numpy scalars and paths (a fit's summary). A number that is not finite (a clock a
    run did not keep) is written as null: Python's `NaN` literal is no JSON, and strict readers refuse it."""
    atomic_write_json(path, _finite(payload), indent=2, default=_jsonable)


def _finite(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


# ---------------------------------------------------------------------------------------- run folders


def write_run(folder: Path, estimator, summary: dict[str, Any],
              report: Callable[[Path], Any] | None = None) -> None:
    """Every file of a fitted `zap.ZAP` into `folder`, then `report(folder)` (report.html), summary.json
    last, so a folder whose summary.json still says "incomplete" may lack any of the others, and one whose
    summary is final lacks none. A run interrupted before its first prediction saves no model: it had none
    worth keeping."""
    result = estimator.result_
    result.curve.to_csv(folder / CURVE)
    plot_curve(result.curve, Budget(estimator.budget, estimator.clock), folder / "learning_curve.png",
               f"{estimator.split_.train.name}: ALC {result.alc:.3f}, pipeline {result.pipeline_id}")
    if summary.get("refine") and summary["refine"].get("slices"):
        plot_refine(summary["refine"], Budget(estimator.budget, estimator.clock), folder / "refine.png",
                    f"{estimator.split_.train.name}: refine, {summary['refine']['reason']}"[:90])
    if estimator.extra_ is not None:
        write_anytime(folder, estimator)
    if len(result.curve) or summary["status"] != "interrupted":
        estimator.save(folder / MODEL)
    if report is not None:
        report(folder)
    write_json(folder / SUMMARY, summary)


def json_ready(payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` as `write_json` writes it and a reader gets it back (numpy scalars as numbers, paths as
    text, non-finite numbers as None): what a report made before the summary is written must show."""
    return json.loads(json.dumps(_finite(payload), default=_jsonable))


class RunFolder:
    """The output folder of one `zap fit`: written as `<out>.partial-<pid>`, then put in place whole (see the
    module docstring for why a sibling and what a kill leaves). Where `out` is a symlink, the folder it
    points to is the one replaced, and the link stays."""

    def __init__(self, out: str | Path):
        self.out = Path(os.path.realpath(out))
        self.partial = self.out.with_name(f"{self.out.name}{PARTIAL}{os.getpid()}")

    def begin(self, info: dict[str, Any]) -> Path:
        """The partial folder, marked incomplete before anything else is in it."""
        shutil.rmtree(self.partial, ignore_errors=True)  # only a killed process of this pid can have left it
        self.partial.mkdir(parents=True)
        write_json(self.partial / SUMMARY, info | {
            "status": "incomplete", "pid": os.getpid(),
            "note": f"`zap fit` is writing this run, or was killed while it did; the run goes to {self.out} once "
                    "complete. If no process with this pid runs, delete this folder."})
        return self.partial

    def progress(self, curve: LearningCurve) -> None:
        """The curve so far, beside the incomplete summary: for a person watching, and what a kill leaves."""
        with atomic_path(self.partial / CURVE) as tmp:
            curve.to_csv(tmp)

    def publish(self, status: str | None = None) -> Path:
        """Put the complete partial folder in DIR's place: one rename, or one exchange and a delete, or (where
        the exchange is missing) two renames and a delete; returns where the run went. A run of `status`
        "interrupted" never replaces a complete earlier run (Ctrl-C must not lose it): it goes beside it, to
        `DIR.interrupted`. Ctrl-C while the folders move is held until they have moved. Where the system
        refuses, the complete run stays in the partial folder, and the error names it."""
        target = self._target(status)
        try:
            with _interrupts_held():
                return self._swap(target)
        except OSError as exc:
            raise ArtifactError(f"could not put the run in place at {target} ({exc.strerror or exc}); the "
                                f"complete run is in {self.partial}: move it there yourself") from exc

    def _target(self, status: str | None) -> Path:
        """DIR, or for an interrupted run over a complete one, `DIR.interrupted`; the partial folder itself
        where that name holds something that is not a zap run (it is never replaced)."""
        if status != "interrupted" or _status_of(self.out) not in FINAL_STATUSES:
            return self.out
        beside = self.out.with_name(self.out.name + INTERRUPTED)
        mine = not beside.is_symlink() and (_status_of(beside) is not None or not _occupied(beside))
        return beside if mine else self.partial

    def _swap(self, target: Path) -> Path:
        if target == self.partial:
            return target
        if not os.path.lexists(target):
            os.rename(self.partial, target)
        elif _exchange(self.partial, target):
            _remove_run(self.partial)  # now the previous run
        else:
            backup = target.with_name(f"{target.name}{PREVIOUS}{os.getpid()}")
            os.rename(target, backup)
            os.rename(self.partial, target)
            _remove_run(backup)
        return target

    def discard(self) -> None:
        shutil.rmtree(self.partial, ignore_errors=True)


def _status_of(folder: Path) -> str | None:
    """A run folder's summary status; None where there is no readable summary."""
    try:
        summary = run_summary(folder) if folder.is_dir() else None
    except ArtifactError:
        return None
    return None if summary is None else summary.get("status")


def _occupied(path: Path) -> bool:
    """Something is at `path`: a file, or a folder with anything in it."""
    return os.path.lexists(path) and (not path.is_dir() or any(path.iterdir()))


def _remove_run(folder: Path) -> None:
    """Delete a run folder, its summary first: a kill during the delete leaves a folder no reader takes for a
    complete run."""
    (folder / SUMMARY).unlink(missing_ok=True)
    shutil.rmtree(folder)


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Ctrl-C held while the block runs, then let go as a warning: moving the folders takes milliseconds, and a
    KeyboardInterrupt between the exchange and its report would say the old run is in place when the new one
    is. Only the main thread can hold signals; elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:  # None: a handler set outside Python (a C library's), which cannot be put back; Python's own is
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)
    if caught:
        warnings.warn("Ctrl-C came while the run was being put in place; it was let finish", stacklevel=3)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux `renameat2` with RENAME_EXCHANGE); False where the C library
    or the file system cannot, and the caller falls back to two renames."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except AttributeError:  # a C library older than the call
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def leftovers(out: Path) -> list[Path]:
    """Folders beside `out` that a killed `zap fit --out out` left (or a running one is writing)."""
    pattern = glob.escape(str(Path(os.path.realpath(out))))
    return sorted(Path(p) for suffix in (PARTIAL, PREVIOUS) for p in glob.glob(f"{pattern}{suffix}*"))


def stale_leftovers(out: Path) -> list[Path]:
    """The `leftovers` of `out` whose process no longer runs: what killed runs left, each about as large as a
    run, which nothing deletes by itself. A folder whose name holds no pid is not counted."""
    return [p for p in leftovers(out) if not _pid_alive(p.name.rsplit("-", 1)[-1])]


def _pid_alive(text: str) -> bool:
    if not text.isdigit():
        return True  # not a name zap gave: not zap's to call stale
    try:
        os.kill(int(text), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process, or a number no pid can be
    return True


# ----------------------------------------------------------------------------------- checks before work


def check_writable(folder: Path, flag: str) -> None:
    """Write a probe file in `folder`, creating it and its parents for the probe: the only sure test of
    permission (modes, read-only mounts, quotas), done before any data is read. The folders it created go
    again, so a command refused later leaves nothing behind; the writer creates them when it writes."""
    created = [f for f in (folder, *folder.parents) if not f.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".zap-probe-")
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"{flag}: cannot write in {folder} ({exc.strerror or exc}); give a path in a folder "
                          "you can write to") from exc
    finally:
        for made in created:  # the deepest first
            with contextlib.suppress(OSError):
                made.rmdir()


def check_out_file(path: Path, flag: str) -> None:
    """Refuse, before any work, an output file path that names a folder or lies where zap cannot write: either
    could only fail once the work is done."""
    if Path(path).is_dir():
        raise ConfigError(f"{flag} {path} is a folder; give the path of a file to write")
    check_writable(Path(path).parent, f"{flag} {path}")


def check_out_dir(path: Path, flag: str) -> None:
    """Refuse, before any work, an output folder path that names a file or lies where zap cannot write."""
    if Path(path).exists() and not Path(path).is_dir():
        raise ConfigError(f"{flag} {path} is an existing file; give a folder path")
    check_writable(Path(path), flag)


def check_out_folder(out: Path, reads: Sequence[Path] = ()) -> None:
    """Refuse an output folder a run could not write or must not replace, before any data is read: an
    existing file, a folder of other files (a run replaces its whole folder), the current folder or one
    above it, one that holds a path the run reads (`reads`), or one whose parent zap cannot write in."""
    out = Path(os.path.realpath(out))
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is an existing file; the run writes a folder there: give a folder path")
    if os.path.ismount(out):
        raise ConfigError(f"--out {out} is a mount point, which a run cannot replace by rename: give a folder "
                          "inside it")
    if _inside(Path.cwd(), out):
        raise ConfigError(f"--out {out} is the current folder or one above it; a run replaces its whole output "
                          "folder: give a folder of its own, such as runs/NAME")
    if out.is_dir() and not (out / SUMMARY).is_file() and any(out.iterdir()):
        raise ConfigError(f"--out {out} is a folder of other files (no summary.json of an earlier `zap fit`), and "
                          "a run replaces its whole output folder: give a new or empty folder, or an earlier run's")
    for path in reads:
        if _inside(Path(path), out):
            raise ConfigError(f"--out {out} holds {path}, which the run reads, and a run replaces its whole output "
                              "folder: write the run elsewhere")
    check_writable(out.parent, f"--out {out}")


def _inside(path: Path, folder: Path) -> bool:
    path, folder = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    return path == folder or folder in path.parents


def _leftover_kind(folder: Path) -> str:
    """What a folder `leftovers` found holds, read from its summary."""
    status = _status_of(folder)
    if status in FINAL_STATUSES:
        return (f"the run before the one being put in place, status {status}" if PREVIOUS in folder.name else
                f"a complete run, status {status}")
    if status == "interrupted":
        return "a run interrupted by Ctrl-C"
    if status == "incomplete":
        return "a run that never finished"
    return "no summary: a run being deleted, or not a zap run"


def run_summary(folder: Path) -> dict[str, Any] | None:
    """The summary.json of a run folder, or None where there is none (a model folder, say)."""
    path = Path(folder) / SUMMARY
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path} is damaged ({exc}); run `zap fit` again") from exc
    if not isinstance(summary, dict):
        raise ArtifactError(f"{path} is not a `zap fit` summary; run `zap fit` again")
    return summary


def model_folder(path: Path) -> Path:
    """The model a `zap predict` should load from `path`: a model folder itself, or the `model/` of a complete
    `zap fit --out` folder. Refused with the reason: a run still being written or killed (status
    "incomplete"), one interrupted before it had a model, a folder a killed swap left missing."""
    path = Path(path)
    if (path / "model.json").exists():
        return path
    if not path.exists() and leftovers(path):
        names = "; ".join(f"{p} ({_leftover_kind(p)})" for p in leftovers(path))
        raise ArtifactError(f"{path} does not exist, but these do: {names}. A `zap fit --out {path}` was killed, "
                            f"or is still running: rename a complete run to {path}, or run `zap fit` again")
    summary = run_summary(path)
    if summary is None:
        return path / MODEL if (path / MODEL).is_dir() else path
    status = summary.get("status")
    if status == "incomplete":
        raise ArtifactError(f"{path} is a run that never finished (summary.json status incomplete: `zap fit` is "
                            "still writing it, or was killed): predict with a complete run")
    if not (path / MODEL).is_dir() and status == "interrupted":
        raise ArtifactError(f"{path} holds a run interrupted before its first prediction: it saved no model; run "
                            "`zap fit` again")
    return path / MODEL
