"""The `zap` command line: it parses arguments, calls the library and prints what comes back.

zap's own errors (`zap.errors.ZapError`: bad input) print as one line with exit code 2; any other
exception is a bug and keeps its traceback (`ZAP_DEBUG=1` keeps it for zap's errors too)."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sys
import warnings
from pathlib import Path

from zap.data import SplitSettings, as_images, load_dataset, train_test_split, unlabelled_folder
from zap.errors import ConfigError, ZapError
from zap.finetune.threads import fewer_threads_note
from zap.metadataset.problem import OBJECTIVES
from zap.resources import metadataset_artifact
from zap.selectors.trained import DEFAULT_SELECTOR, TRAINABLE
from zap.strategies.defaults import AUTO
from zap.strategies.tune import DEFAULT_K as DEFAULT_TUNE_K
from zap.utils import atomic_write_json

# zap's own errors only: a user's mistake prints one line; anything else is a bug and keeps its traceback
USER_ERRORS = (ZapError,)
ZAP_SOURCE = Path(__file__).resolve().parent
_PYTHON_SHOWWARNING = warnings.showwarning
OBJECTIVE_HELP = ("what the pick optimizes: alc (default: answering early, the AutoDL metric) or final (the final "
                  "accuracy of the model you keep); uses the selector trained for it")
ASLIB_METHODS = ("zap-hpo", "zap-as", "autofolio-default")  # compared with the baselines by `benchmark --aslib`


def _print_json(payload) -> None:
    print(json.dumps(payload, indent=2, default=str))


# ------------------------------------------------------------------------------------------------- fit


def cmd_fit(args: argparse.Namespace) -> int:
    """`zap fit`: every argument is checked before the data is read, and the run is written beside --out and put
    into place whole (`zap.report.RunFolder`). Exit codes: 0 ok; 3 a run that diverged, or whose every
    prediction came after the budget (summary status "diverged", "late"); 130 Ctrl-C (the run's curve, anytime
    predictions and best model so far are saved with status "interrupted"; before training began, --out is
    left as it was); 2 bad input."""
    try:
        return _fit(args)
    except KeyboardInterrupt:  # before training began (once it runs, the run stops and saves what it had)
        print(f"zap: interrupted before the run was saved; {args.out} is as it was", file=sys.stderr)
        return 130


def _fit(args: argparse.Namespace) -> int:
    from zap.data.loaders import check_out_not_inside
    from zap.report import RunFolder, check_out_folder

    estimator = _fit_estimator(args)
    estimator._check_params()
    check_out_not_inside(args.data, args.out)
    check_out_folder(Path(args.out), reads=[Path(p) for p in (args.data, args.test) if p and Path(p).exists()])
    _note_stale_leftovers(args.out)
    folder = RunFolder(args.out)
    try:
        folder.begin({"data": str(args.data), "budget_s": args.budget, "clock": args.clock})
        summary = _fit_and_write(estimator, args, folder)
    except BaseException:  # a bug, bad data, Ctrl-C while writing: the partial folder goes, --out stays as it was
        folder.discard()
        raise
    return _report_fit(args, summary, folder.publish(summary["status"]))


def _note_stale_leftovers(out: str) -> None:
    from zap.report import stale_leftovers

    stale = stale_leftovers(Path(out))
    if stale:
        _say(f"note: {len(stale)} folder(s) beside {out} are left from runs that were killed ({stale[0].name}"
             f"{', ...' if len(stale) > 1 else ''}); zap leaves them as they are: look inside, then delete them")


def _fit_estimator(args: argparse.Namespace):
    from zap.api import ZAP

    return ZAP(budget=args.budget, config=args.config, selector=args.selector, clock=args.clock, device=args.device,
               threads=args.threads, seed=args.seed, test_ratio=args.test_ratio, max_test=args.max_test,
               on_corrupt=args.on_corrupt, progress=not args.quiet, objective=args.objective, strategy=args.strategy,
               refine_k=args.refine_k, fallback=not args.no_fallback)


def _fit_and_write(estimator, args: argparse.Namespace, folder) -> dict:
    """Train (Ctrl-C stops training, and the run keeps what it had), refit if asked, and write every file
    into the partial folder; returns the summary."""
    from zap.html import write_fit_report
    from zap.report import write_run

    estimator.fit(args.data, extra=args.test, on_prediction=folder.progress)
    if args.refit and estimator.status() != "interrupted":
        estimator.refit()
    summary = estimator.summary() | {"refit": estimator.refit_status_ == "ok", "data": str(args.data)}
    write_run(folder.partial, estimator, summary, report=lambda out: write_fit_report(out, estimator, summary))
    return summary


def _report_fit(args: argparse.Namespace, summary: dict, out: Path | None = None) -> int:
    """Say how the run ended; `out` is where its folder went (`RunFolder.publish`; default --out)."""
    status = summary["status"]
    went = out is not None and out != Path(os.path.realpath(args.out))
    out = out if went else args.out  # as the user wrote it, where the run went there
    if status == "interrupted":
        kept = f"; {args.out} still holds the earlier complete run, which an interrupted run does not replace"
        print(f"zap: interrupted; saved what the run had to {out} ({summary['n_predictions']} prediction(s), ALC "
              f"{summary['alc']:.4f}, status interrupted){kept * went}", file=sys.stderr)
        return 130
    if args.quiet:  # otherwise the estimator said it before training
        from zap.finetune.calibrate import run_notes

        notes = run_notes(summary.get("threads_choice"), summary.get("clock_calibration"), summary["budget_s"])
        for warning in notes + summary["selection"].get("warnings", []):
            print(f"note: {warning}", file=sys.stderr)
    else:
        print(f"ALC {summary['alc']:.4f}  final NAUC {summary['final_nauc']:.4f}  accuracy "
              f"{summary['accuracy']:.4f}  ({summary['elapsed_s']:.1f} of {args.budget:g} {args.clock}-s, "
              f"{summary['n_predictions']} predictions)\nwrote {out}/summary.json, learning_curve.csv/.png, model/")
    if status != "ok":
        print(f"note: status {status}: {summary['error']}", file=sys.stderr)
    if summary.get("refit_status") == "failed":
        print(f"note: --refit kept the run's own model: {summary['refit_error']}", file=sys.stderr)
    return 0 if status == "ok" else 3


def cmd_suggest(args: argparse.Namespace) -> int:
    from zap.api import budget_in_reference_seconds, check_range, check_threads, resolve_threads
    from zap.finetune.clock import check_budget
    from zap.finetune.runner import resolve_device
    from zap.metafeatures import compute
    from zap.selectors.trained import suggest

    check_range("k", args.k, 1, integer=True)
    if args.budget is not None:
        check_budget(args.budget, args.clock)
    check_threads(args.threads, args.clock)
    device = resolve_device(args.device).type
    _check_split_args(args)
    dataset = load_dataset(args.data, on_corrupt=args.on_corrupt)
    split = train_test_split(dataset, SplitSettings(args.test_ratio, args.max_test, args.seed))
    meta = compute(split.train)
    threads, budget_ref = args.threads, None
    if args.budget is not None:  # converted as `zap fit` converts it, with its threads, device and files
        threads, _ = resolve_threads(args.threads, args.clock)
        budget_ref, _ = budget_in_reference_seconds(args.budget, args.clock, threads, device,
                                                    train=split.train, predicted=[split.test])
    result = suggest(meta, args.selector, k=args.k, budget=args.budget, clock=args.clock, threads=threads,
                     device=device, objective=args.objective, budget_ref=budget_ref, fallback=not args.no_fallback)
    if args.json:
        _print_json(result.to_dict())
        return 0
    print("meta-features: " + ", ".join(f"{k}={v}" for k, v in meta.to_dict().items()))
    print(f"{'rank':>4}  {'pipeline':12s}  {'score':>7}  description")
    for s in result.suggestions:
        c = s.config
        text = (f"{c.get('architecture')} {c.get('optimizer')} lr={c.get('lr', 0):.2g} batch={c.get('batch_size')} "
                f"max_size={2 ** int(c.get('log2_max_size', 6))} freeze={c.get('freeze_portion', 0):.2f}")
        print(f"{s.rank:>4}  {s.pipeline_id:12s}  {s.score:7.3f}  {text}{' [' + s.name + ']' if s.name else ''}")
    for warning in result.warnings:
        print(f"note: {warning}")
    if len(result.suggestions) < args.k:
        print(f"note: the selector offers {len(result.suggestions)} candidates here, fewer than --k {args.k}")
    if result.fallback and result.fallback["fell_back"]:
        print(f"note: Single-best comes first instead of {result.fallback['pick']}: {result.fallback['reason']} "
              "(--no-fallback keeps the selector's order)")
    return 0


def cmd_meta_train(args: argparse.Namespace) -> int:
    from zap.selectors.trained import meta_train

    if args.exclude_cores and not args.out:
        raise ConfigError("--exclude-cores trains selectors that have not seen some cores: give them a folder of "
                          "their own with --out DIR, so they do not replace the selectors `zap fit` uses")
    _check_meta_train_numbers(args)
    if args.refine and args.exclude_cores:
        raise ConfigError("--exclude-cores leaves cores out of the selectors' training; the refine predictor "
                          "(--refine) has no such option: train it in a separate `zap meta-train --refine`")
    if args.refine:
        from zap.strategies.predictor import meta_train_predictor

        item = meta_train_predictor(args.artifact, args.out, seed=args.seed)
        print(f"refine curve predictor: {item['path']} ({item['rows']} curve cuts, {item['seconds']:.1f} s)")
    for objective in args.objective:
        report = meta_train(args.artifact, tuple(args.selectors), args.out, seed=args.seed, as_trials=args.as_trials,
                            objective=objective, exclude_cores=tuple(args.exclude_cores))
        for name, item in report.items():
            if name == "fallback":
                print(f"fallback rule ({objective}): {item['path']}")
                continue
            if name == "levels":
                if item["unmeasured"]:
                    print(f"note: level(s) {', '.join(f'{b:g}' for b in item['unmeasured'])} hold no measured cell "
                          f"and were left out; trained on {', '.join(f'{b:g}' for b in item['trained'])} ref-s")
                continue
            print(f"{name} ({objective}): {item['path']} (spec {item['spec_hash']}, {item['seconds']:.1f} s)")
    return 0


def _check_meta_train_numbers(args: argparse.Namespace) -> None:
    """Before any selector is written: a bad `--as-trials` once failed after ZAP-HPO and the fallback rule had
    already replaced their files, leaving the selectors folder half updated."""
    from zap.api import check_range
    from zap.report import check_out_dir

    check_range("--seed", args.seed, 0, integer=True)
    check_range("--as-trials", args.as_trials, 1, integer=True)
    if args.out:
        check_out_dir(Path(args.out), "--out")


def cmd_benchmark(args: argparse.Namespace) -> int:
    if args.aslib:
        return _benchmark_aslib(args)
    from zap import report
    from zap.benchmark import BenchmarkOptions, run_protocols
    from zap.metadataset.artifact import load

    _check_benchmark_numbers(args)
    report.check_out_dir(Path(args.out), "--out")
    if args.json:
        report.check_out_file(Path(args.json), "--json")
    options = BenchmarkOptions(protocols=tuple(args.protocol), methods=tuple(args.methods) if args.methods else None,
                               repetitions=args.repetitions, as_trials=args.as_trials, as_tunings=args.as_tunings,
                               hpo_epochs=args.hpo_epochs, ablations=not args.no_ablations, max_folds=args.max_folds,
                               rerun_picks=args.rerun_picks, seed=args.seed, objectives=tuple(args.objective),
                               levels=tuple(args.levels) if args.levels else None,
                               folds=tuple(args.folds) if args.folds else None)
    payload = load(Path(args.artifact))
    with _benchmark_client(args) as client:
        result = run_protocols(payload, Path(args.out), options, client=client, progress=_say)
    if args.json and result.runs:
        atomic_write_json(Path(args.json), result.runs[0].view)
    from zap.html import write_benchmark_report

    write_benchmark_report(Path(args.out), result)
    print(result.report)
    return 0


def _check_benchmark_numbers(args: argparse.Namespace) -> None:
    """Refuse counts the benchmark cannot mean before the artifact is read: before, a negative worker count
    hung, `--max-folds 0` ran every fold, and zero repetitions or negative re-runs failed once the work was done."""
    from zap.api import check_range
    from zap.benchmark.loco import check_as_tunings

    check_range("--repetitions", args.repetitions, 1, integer=True)
    check_range("--as-trials", args.as_trials, 1, integer=True)
    check_as_tunings(args.as_tunings)
    check_range("--hpo-epochs", args.hpo_epochs, 1, integer=True)
    check_range("--rerun-picks", args.rerun_picks, 0, integer=True)
    if args.workers is not None:
        check_range("--workers", args.workers, 0, integer=True)
    if args.max_folds is not None:
        check_range("--max-folds", args.max_folds, 1, integer=True)


def _check_seeds(args: argparse.Namespace) -> None:
    """The seeds and the second-seed settings of `zap metadataset build/status/export`, before the plan is read."""
    from zap.api import check_range

    for seed in args.seeds:
        check_range("--seeds", seed, 0, integer=True)
    args.seeds = list(dict.fromkeys(args.seeds))  # a level or seed named twice is one level or seed
    if getattr(args, "budget", None):
        args.budget = list(dict.fromkeys(args.budget))
    if hasattr(args, "extra_seed_share"):
        check_range("--extra-seed-share", args.extra_seed_share, 0, 1)
        check_range("--extra-seed-top", args.extra_seed_top, 0, integer=True)


def _say(text: str) -> None:
    """Progress and notes go to stderr, so stdout holds only what a command reports."""
    print(text, file=sys.stderr, flush=True)


def _benchmark_client(args: argparse.Namespace):
    """A Dask client for the benchmark's folds and re-runs, or none (`--workers 0`: in this process)."""
    if args.workers == 0:
        return contextlib.nullcontext()
    from zap.engine import EngineSpec, make_client

    return make_client(EngineSpec(workers=args.workers, scheduler=args.scheduler))


def _benchmark_aslib(args: argparse.Namespace) -> int:
    from zap.benchmark.aslib import evaluate_scenario, read_scenario
    from zap.report import check_out_file
    from zap.selectors.registry import create_selector

    if args.json:
        check_out_file(Path(args.json), "--json")
    scenario = read_scenario(args.aslib)
    settings = {"seed": args.seed, "max_epochs": args.hpo_epochs, "n_trials": args.as_trials}
    methods = {name: functools.partial(create_selector, name, **settings) for name in ASLIB_METHODS}
    result = evaluate_scenario(scenario, methods)
    if args.json:
        atomic_write_json(Path(args.json), result)
    _print_json(result)
    return 0


# ------------------------------------------------------------------------------------------------ tune


def _zero_shot_design_options(args: argparse.Namespace) -> None:
    """--k and --selector shape the zero-shot initial design; with SMAC's own design they would be silently
    ignored, so giving them there is refused. Otherwise their defaults are filled in."""
    given = [flag for flag, value in (("--k", args.k), ("--selector", args.selector)) if value is not None]
    if args.init == "default" and given:
        raise ConfigError(f"{' and '.join(given)} choose{'s' if len(given) == 1 else ''} the zero-shot initial "
                          "design, and --init default uses SMAC's own random one: leave "
                          f"{'it' if len(given) == 1 else 'them'} out, or use --init zero-shot")
    args.k = DEFAULT_TUNE_K if args.k is None else args.k
    args.selector = DEFAULT_SELECTOR if args.selector is None else args.selector


def cmd_tune(args: argparse.Namespace) -> int:
    """`zap tune`: SMAC3 multi-fidelity HPO on the data, its initial design the zero-shot top-k
    (`zap.strategies.tune`). Every argument is checked before the data is read. With --out the run is written
    beside the folder and put in place whole, as `zap fit` does (`zap.report.RunFolder`): summary.json
    ("strategy": "tune", every trial), report.html (zap.html.tune), the incumbent's model/, the search's
    learning curve on the test split, and --test's predictions. Exit codes: 0 ok; 130 Ctrl-C (the incumbent so
    far is saved, status "interrupted"; before any trial finished, nothing is, and --out is left as it was);
    2 bad input."""
    from zap import report
    from zap.api import budget_in_reference_seconds, check_split, check_threads, resolve_threads
    from zap.data.loaders import check_out_not_inside
    from zap.finetune import Budget
    from zap.finetune.runner import resolve_device
    from zap.html import write_tune_report
    from zap.strategies.tune import check_settings, refit_incumbent, tune

    _zero_shot_design_options(args)
    check_settings(args.budget, args.clock, args.init, args.k, args.objective, args.selector, args.trial_budget)
    check_threads(args.threads, args.clock)
    check_split(args.test_ratio, args.max_test, args.seed)
    if args.refit and not args.out:
        raise ConfigError("--refit retrains the incumbent to save it, and without --out nothing is saved: "
                          "give --out DIR, or leave out --refit")
    device = resolve_device(args.device).type
    if args.out:
        check_out_not_inside(args.data, args.out)
        reads = [Path(p) for p in (args.data, args.test) if p and Path(p).exists()]
        report.check_out_folder(Path(args.out), reads=reads)
    extra = as_images(args.test, args.on_corrupt) if args.test else None
    dataset = load_dataset(args.data, on_corrupt=args.on_corrupt)
    split = train_test_split(dataset, SplitSettings(args.test_ratio, args.max_test, args.seed))
    threads, threads_choice = resolve_threads(args.threads, args.clock)
    if note := fewer_threads_note(threads_choice):
        _say(f"note: {note}")
    budget_ref, calibration = budget_in_reference_seconds(args.budget, args.clock, threads, device)

    def show(trial: dict) -> None:
        if trial.get("skipped"):
            _say(f"skip       {trial['origin']:14s} {trial['pipeline_id']}  {trial['config']['architecture']:18s} "
                 f"{trial['budget']:7.2f} {args.clock}-s  first answer priced at {trial['first_answer_s']:.2f}")
            return
        mark = "  <- incumbent" if trial["incumbent"] == trial["n"] else ""
        score = "cut short" if trial["score"] is None else f"valid {args.objective} {trial['score']:.3f}"
        if trial.get("late"):
            score += ("  (answered only after its budget)" if not trial.get("in_time") else
                      f"  ({trial['late']} prediction(s) after its budget not counted)")
        _say(f"trial {trial['n']:3d}  {trial['origin']:14s} {trial['pipeline_id']}  "
             f"{trial['config']['architecture']:18s} {trial['budget']:7.2f} {args.clock}-s  {score}{mark}")

    def write(partial: Path, result, summary: dict) -> None:
        result.curve.to_csv(partial / report.CURVE)
        report.plot_curve(result.curve, result.budget, partial / "learning_curve.png",
                   f"{split.train.name}: tune, incumbents on the test split, ALC {result.alc:.3f}")
        if extra is not None:
            report.write_predictions(partial / "test_predictions.csv", report.image_names(extra),
                                     result.extra_probabilities, result.predictor.class_names)
        result.predictor.save(partial / report.MODEL)
        write_tune_report(partial, report.json_ready(summary), result.curve)
        report.write_json(partial / report.SUMMARY, summary)  # last: a final summary means every file is there

    folder = report.RunFolder(args.out) if args.out else None
    if folder:
        _note_stale_leftovers(args.out)
    try:
        if folder:
            folder.begin({"data": str(args.data), "budget_s": args.budget, "clock": args.clock,
                          "strategy": "tune"})
        result = tune(split.train, split.test, Budget(args.budget, args.clock), init=args.init, k=args.k,
                      selector=args.selector, objective=args.objective, seed=args.seed, threads=threads,
                      device=device, trial_budget=args.trial_budget, extra=extra, budget_ref=budget_ref,
                      progress=None if args.quiet else show, interruptible=True)
        if args.refit:
            result = refit_incumbent(result, dataset, extra, seed=args.seed, threads=threads, device=device,
                                     progress=not args.quiet)
        summary = result.summary() | {"data": str(args.data), "seed": args.seed, "threads": threads,
                                      "threads_choice": threads_choice, "device": device,
                                      "selector": args.selector, "budget_ref_s": budget_ref,
                                      "clock_calibration": calibration}
        if folder and result.predictor is not None:
            write(folder.partial, result, summary)
    except BaseException:  # a bug, bad data, Ctrl-C while writing: the partial folder goes, --out stays as it was
        if folder:
            folder.discard()
        raise
    for note in result.design.notes:
        _say(f"note: {note}")
    if result.predictor is None:
        if folder:
            folder.discard()
        _say(f"zap: interrupted before any trial finished; nothing saved{f', {args.out} is as it was' * bool(folder)}")
        return 130
    went = folder.publish(result.status) if folder else None
    beside = folder is not None and went != folder.out  # an interrupted run, kept beside a complete one
    best = result.best
    print(f"{len(result.trials)} trials in {result.spent:.1f} of {args.budget:g} {args.clock}-s (init {args.init}); "
          f"incumbent trial {best['n']}: pipeline {best['pipeline_id']} ({best['config']['architecture']}) at "
          f"{best['budget']:.3g} {args.clock}-s, valid {args.objective} {best['score']:.4f}\n"
          f"test split: final NAUC {summary['final_nauc']:.4f}  accuracy {summary['accuracy']:.4f}  "
          f"ALC of the search {summary['alc']:.4f}"
          + (f"\nwrote {went if beside else args.out}/summary.json, report.html, learning_curve.csv/.png, model/"
             if folder else "\n(no --out: nothing saved)"))
    if result.skipped:
        _say(f"note: {len(result.skipped)} trial(s) not run: their first answer was priced past their budget "
             "(summary.json: tune.skipped)")
    if result.passed:
        _say(f"note: {len(result.passed)} ask(s) passed over: their first answer was priced past what was left "
             "(summary.json: tune.passed)")
    if result.ended in ("trial cap", "skip cap"):
        _say(f"note: the search stopped at its {result.ended} with {args.budget - result.spent:.1f} {args.clock}-s "
             "left (summary.json: tune.ended)")
    refit = result.refit or {}
    if refit.get("status") == "ok":
        how = f"{refit['steps']} optimizer steps" if refit["steps"] else "its quick model, fitted again"
        saved = "model/ and test_predictions.csv are" if extra is not None else "model/ is"
        print(f"refit the incumbent on all {refit['n_images']} labelled images ({how}); {saved} the refitted "
              "model's, the test-split scores its trial's")
    elif refit.get("status") == "failed":
        _say(f"note: --refit kept the incumbent's own model: {refit['error']}")
    if result.status == "interrupted":
        what = "the refit" if result.refit else f"the search after {len(result.trials)} trial(s)"
        _say(f"zap: interrupted {what}; kept the incumbent's own model, status interrupted"
             + f"; saved to {went}, beside {args.out}, which holds an earlier complete run" * beside)
        return 130
    return 0


# --------------------------------------------------------------------------------------------- predict


def cmd_predict(args: argparse.Namespace) -> int:
    """`zap predict`: the --out CSV and the device are checked before the model or an image is read; a run
    folder must be complete (`zap.report.model_folder`), and its model the one its summary names."""
    from zap.api import check_threads, resolve_threads
    from zap.errors import ArtifactError, ConfigError
    from zap.finetune.predictor import Predictor
    from zap.finetune.runner import resolve_device
    from zap.finetune.threads import torch_threads
    from zap.report import check_writable, image_names, model_folder, run_summary, write_predictions

    out = Path(args.out)
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; `zap predict` writes a CSV file: give a file path")
    if Path(args.images).is_dir() and out.resolve().is_relative_to(Path(args.images).resolve()):
        raise ConfigError(f"--out {out} is inside the images folder {args.images}: the next prediction on that "
                          "folder would read the CSV as an image. Write it outside the folder")
    check_writable(out.parent, f"--out {out}")
    check_threads(args.threads, "wall")
    resolve_device(args.device)  # CUDA asked for where torch sees none
    model_dir = model_folder(Path(args.model_dir))
    predictor = Predictor.load(model_dir)
    summary = run_summary(model_dir.parent) if model_dir.name == "model" else None
    if summary is not None and summary.get("pipeline_id") not in (None, predictor.pipeline_id):
        raise ArtifactError(f"{model_dir} holds pipeline {predictor.pipeline_id}, but the run's summary.json names "
                            f"{summary['pipeline_id']}: the model is not this run's; run `zap fit` again")
    images = unlabelled_folder(args.images, on_corrupt=args.on_corrupt)
    threads, choice = resolve_threads(args.threads, "wall")
    if (note := fewer_threads_note(choice)) and not args.quiet:
        _say(f"note: {note}")
    with torch_threads(threads):
        probabilities = predictor.predict_proba(images, device=args.device)
    write_predictions(out, image_names(images), probabilities, predictor.class_names)
    if not args.quiet:
        print(f"wrote {len(images)} predictions to {out}")
    return 0


# ----------------------------------------------------------------------------------------- information


def cmd_metafeatures(args: argparse.Namespace) -> int:
    from zap.metafeatures import compute

    _check_split_args(args)
    split = train_test_split(load_dataset(args.data, on_corrupt=args.on_corrupt),
                             SplitSettings(args.test_ratio, args.max_test, args.seed))
    features = compute(split.train)
    if args.json:
        _print_json(features.to_dict())
    else:
        for key, value in features.to_dict().items():
            print(f"{key:14s} {value}")
    return 0


def _check_split_args(args: argparse.Namespace) -> None:
    """--test-ratio, --max-test and --seed, before the data is read (as `zap.ZAP` checks them)."""
    from zap.api import check_split

    check_split(args.test_ratio, args.max_test, args.seed)


def cmd_space(args: argparse.Namespace) -> int:
    from zap.pipelines.docs import space_markdown, space_records

    if args.json:
        _print_json(space_records())
    elif args.markdown:
        print(space_markdown())
    else:
        from zap.pipelines import search_space

        print(search_space())
    return 0


def cmd_zoo(args: argparse.Namespace) -> int:
    from zap.pipelines.zoo import ZOO, model_info

    rows = [model_info(name) for name in ZOO]
    if args.json:
        _print_json(rows)
        return 0
    print(f"{'name':20s} {'params':>7s} {'input':>5s}  weights")
    for row in rows:
        print(f"{row['name']:20s} {row['params_m']:6.2f}M {row['input_size']:5d}  {row['weights']}")
    print("any timm model: use 'timm:<name>' (weights through timm's Hugging Face hub code)")
    return 0


# -------------------------------------------------------------------------------------------- datasets


def cmd_datasets_build(args: argparse.Namespace) -> int:
    import time

    from zap.data.core import CORES, build_core, default_cache

    names = args.only or list(CORES)
    cache = Path(args.cache) if args.cache else default_cache()
    start = time.perf_counter()
    for name in names:
        entry = build_core(name, cache, force=args.force)
        if not args.quiet:
            print(f"{name:18s} {entry['n_images']:6d} images {entry['n_classes']:4d} classes "
                  f"{entry['resolution']:4d} px {entry['channels']} ch  sha256 {entry['sha256'][:12]}  "
                  f"{entry['seconds']:6.1f} s", flush=True)
    if args.catalogue:
        from zap.data.core.store import write_catalogue

        write_catalogue(cache)
    if not args.quiet:
        print(f"{len(names)} core(s) in {cache} ({time.perf_counter() - start:.0f} s)")
    return 0


def cmd_datasets_list(args: argparse.Namespace) -> int:
    from zap.data.core import registry_table

    rows = registry_table(Path(args.cache) if args.cache else None)
    if args.json:
        _print_json(rows)
        return 0
    print(f"{'name':18s} {'domain':12s} {'classes':>7s} {'images':>7s} {'res':>4s} {'ch':>2s}  built")
    for r in rows:
        built = "no" if not r["built"] else "yes" if r["matches_reference"] else "yes (differs from reference)"
        print(f"{r['name']:18s} {r['domain']:12s} {r['n_classes'] or '-':>7} {r['n_images'] or '-':>7} "
              f"{r['resolution']:4d} {r['channels']:2d}  {built}")
    return 0


def cmd_datasets_augment(args: argparse.Namespace) -> int:
    from zap.data.augment import draw_variants, save_specs
    from zap.data.core import load_core

    core = load_core(args.core, Path(args.cache) if args.cache else None)
    specs = draw_variants(core, args.n, args.seed, max_test=args.max_test, seed_rule=args.seed_rule)
    if args.out:
        save_specs(specs, args.out)
    if args.json:
        _print_json([s.to_dict() for s in specs])
        return 0
    print(f"{'variant':28s} {'res':>4s} {'ch':>2s} {'classes':>7s} {'n_train':>7s}")
    for s in specs:
        print(f"{s.name:28s} {s.resolution:4d} {s.channels:2d} {len(s.classes):7d} {s.n_train:7d}")
    return 0


# ----------------------------------------------------------------------------------------- metadataset


def cmd_metadataset_plan(args: argparse.Namespace) -> int:
    from zap.metadataset.plan import create_plan, load_plan

    plan = create_plan(Path(args.folder), n_variants=args.variants, seed=args.seed, budget=args.budget,
                       clock=args.clock, max_test=args.max_test, cores=args.cores, cache=args.cache,
                       seed_rule=args.seed_rule, budgets=tuple(args.budgets or ()),
                       reuse=load_plan(Path(args.reuse)) if args.reuse else None)
    print(f"plan in {plan.folder}: {len(plan.protocol.datasets)} datasets, {len(plan.candidates)} candidates, "
          f"budget levels {[f'{b:g}' for b in plan.levels]} {plan.protocol.clock}-s, "
          f"protocol hash {plan.protocol.spec_hash()}")
    return 0


def cmd_metadataset_build(args: argparse.Namespace) -> int:
    from zap.engine import EngineSpec, make_client
    from zap.finetune.runner import resolve_device
    from zap.metadataset import build, load_plan
    from zap.metadataset.build import plan_tasks

    if args.device == "cuda" and resolve_device("auto").type != "cuda":  # say so before any work
        raise ConfigError("--device cuda was asked for, but torch sees no CUDA GPU here; use --device cpu")
    _check_seeds(args)
    _check_workers(args)
    plan = load_plan(Path(args.plan))
    plan.check_runner()
    store = plan.store
    tasks = plan_tasks(plan, store, args.seeds, args.extra_seed_share, args.extra_seed_top, args.budget,
                       cores=args.cores, device=args.device, extra_seed_by=args.extra_seed_by)
    spec = EngineSpec(cluster=args.cluster, workers=args.workers, scheduler=args.scheduler)
    with make_client(spec) as client:
        report = build(tasks, store, client, cache=args.cache, progress=not args.quiet)
    print(f"{report.written} new results ({report.failed_inside} failed inside their task, {report.lost} lost and "
          f"left for the next run) in {report.seconds:.0f} s; {len(store)} stored in {store.folder}")
    return 0


def cmd_metadataset_hpo(args: argparse.Namespace) -> int:
    """SMAC on the first variant of every core that has no finished run yet, then refresh the candidates."""
    from zap.api import check_range
    from zap.engine import EngineSpec
    from zap.metadataset import load_plan
    from zap.metadataset.hpo import tune_plan

    _check_workers(args)
    check_range("--trials", args.trials, 1, integer=True)
    check_range("--min-candidates", args.min_candidates, 0, integer=True)
    spec = EngineSpec(cluster=args.cluster, workers=args.workers, scheduler=args.scheduler)
    plan = load_plan(Path(args.plan))
    plan.check_runner()
    done = tune_plan(plan, spec, n_trials=args.trials, min_candidates=args.min_candidates, cache=args.cache,
                     progress=None if args.quiet else _print_now, budget=args.budget,
                     cores=args.cores)
    print(f"{done.n_runs} HPO runs; {done.added} new candidates, {done.n_candidates} in all")
    return 0


def _check_workers(args: argparse.Namespace) -> None:
    """`--workers` of build and hpo: a negative count once left a Dask cluster waiting for ever."""
    from zap.api import check_range

    if args.workers is not None:
        check_range("--workers", args.workers, 1, integer=True)


def _print_now(text: str) -> None:
    print(text, flush=True)


def cmd_metadataset_export(args: argparse.Namespace) -> int:
    from zap import report
    from zap.metadataset import HOME_PLAN, load_plan
    from zap.metadataset.artifact import export

    _check_seeds(args)
    report.check_out_file(Path(args.out), "--out")
    plan = load_plan(Path(args.plan))
    if args.out == str(metadataset_artifact()) and Path(args.plan).resolve() != HOME_PLAN.resolve():
        raise ConfigError(f"--out defaults to the shipped artifact {args.out}, which the shipped selectors were "
                          f"trained on; give --out for the export of {args.plan}")
    summary = export(plan, Path(args.out), seeds=tuple(args.seeds))
    if args.json:
        _print_json(summary)
        return 0
    print(f"wrote {args.out}: {summary['n_datasets']} datasets x {summary['n_candidates']} candidates, "
          f"{summary['n_missing']} missing cells")
    return 0


def cmd_metadataset_info(args: argparse.Namespace) -> int:
    from zap.metadataset.artifact import info, load

    summary = info(load(Path(args.artifact)))
    if args.json:
        _print_json(summary)
    else:
        for key, value in summary.items():
            print(f"{key:14s} {value}")
    return 0


def cmd_metadataset_diversity(args: argparse.Namespace) -> int:
    from zap.metadataset.artifact import budgets_of, load
    from zap.metadataset.diversity import level_report, plot_heatmap, plot_winners
    from zap.report import check_out_dir

    if args.out:
        check_out_dir(Path(args.out), "--out")
    payload = load(Path(args.artifact))
    budgets = budgets_of(payload)
    levels = {}
    for budget in budgets:
        problem, report = level_report(payload, budget)
        if args.out and report["n_datasets"]:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            suffix = "" if len(budgets) == 1 else f"-{budget:g}"
            report["figures"] = [str(plot_heatmap(problem, out / f"cost_matrix{suffix}.png")),
                                 str(plot_winners(problem, out / f"winners{suffix}.png"))]
        levels[f"{budget:g}"] = report
    if args.json:
        _print_json({"budgets": budgets, "levels": levels})
        return 0
    for key, report in levels.items():
        print(f"budget {key} s")
        for name, value in report.items():
            if name not in ("winner_counts", "near_copies"):
                print(f"  {name:36s} {_rounded(value)}")
        print(f"  {'near_copies (RMS dALC within noise)':36s} {len(report.get('near_copies', []))}")
    return 0


def cmd_metadataset_report(args: argparse.Namespace) -> int:
    from zap.html import write_metadataset_report

    print(f"wrote {write_metadataset_report(Path(args.artifact), Path(args.out))}")
    return 0


def _rounded(value):
    """Floats to 3 decimals, also inside dicts and lists, for a table a person reads."""
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def cmd_metadataset_status(args: argparse.Namespace) -> int:
    from zap.metadataset import load_plan
    from zap.metadataset.build import build_status

    _check_seeds(args)
    payload = build_status(load_plan(Path(args.plan)), args.seeds, args.extra_seed_share, args.extra_seed_top,
                           args.budget, args.extra_seed_by)
    if args.json:
        _print_json(payload)
    else:
        here = payload["core_hours_left_here"]
        pace = "" if here is None else f", {here} at this CPU's own pace"
        print(f"{payload['done']}/{payload['total']} cells done ({payload['missing']} missing, about "
              f"{payload['core_hours_left']} core-hours left{pace}); {payload['n_datasets']} datasets x "
              f"{payload['n_candidates']} candidates, protocol {payload['protocol_hash']}")
    return 0


# --------------------------------------------------------------------------------------------- parsers


def _data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--on-corrupt", choices=["fail", "skip"], default="fail",
                        help="unreadable image files: fail with their list (default) or skip them with a warning")
    parser.add_argument("--test-ratio", type=float, default=0.2,
                        help="share of each class held out as test, in (0, 1) (default 0.2)")
    parser.add_argument("--max-test", type=int, default=1000, help="cap on the test split, at least 1 (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="a whole number >= 0 (default 0)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zap", description="Zero-shot AutoML with pretrained models.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_fit_and_predict(sub)
    _add_tune(sub)
    _add_inspection(sub)
    _add_datasets(sub)
    _add_metadataset(sub)
    _add_selection(sub)
    return parser


def _add_fit_and_predict(sub) -> None:
    """`zap fit` and `zap predict`: what most users run."""
    fit = sub.add_parser("fit", help="fine-tune a pipeline on a labelled dataset within a time budget")
    fit.add_argument("data", type=path_arg, help="image folder (one sub-folder per class), .npz with x/y, or 'digits'")
    fit.add_argument("--budget", type=float, required=True,
                     help="time budget in seconds of --clock, in (0, 604800] (at most 7 days)")
    fit.add_argument("--config", help="named pipeline (recommended, autodl-default) or a JSON file; fixes the "
                                      "pipeline and bypasses zero-shot selection")
    fit.add_argument("--selector", default=AUTO, choices=[AUTO, *TRAINABLE],
                     help="zero-shot selector that picks the pipeline from the meta-features (default auto: the "
                          "rule for the budget and objective, README 'What zap fit does by default')")
    fit.add_argument("--objective", choices=OBJECTIVES, default="alc",
                     help=OBJECTIVE_HELP)
    fit.add_argument("--strategy", choices=[AUTO, "zero-shot", "refine"], default=AUTO,
                     help="auto: the rule for the budget and objective (default); zero-shot: train the selector's "
                          "pick; refine: start its top-k, watch their "
                          "first learning-curve points and give the rest of the budget to the one a meta-learned "
                          "curve predictor expects to end best")
    fit.add_argument("--no-fallback", action="store_true",
                     help="train the selector's pick even where it has no grounds to deviate from Single-best "
                          "(meta-features outside its training range, or a margin within the noise floor)")
    fit.add_argument("--refine-k", type=int, metavar="K",
                     help="with --strategy refine: race this many of the top candidates, 1 to 5 (default: the rule "
                          "for the budget, docs/refine.md)")
    fit.add_argument("--test", help="folder of unlabelled images to predict anytime")
    fit.add_argument("--out", type=path_arg, required=True,
                     help="output folder: new, empty or an earlier run's, which the complete run replaces whole")
    fit.add_argument("--clock", choices=["wall", "cpu", "ref"], default="wall",
                     help="budget clock: wall seconds (default), this thread's CPU seconds, or reference seconds "
                          "(a fixed amount of compute on any machine, the meta-dataset v2's unit)")
    fit.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    fit.add_argument("--threads", type=int, help="torch threads, 1 to 1024 (default: one per core that other "
                        "work leaves free; 1 with --clock cpu)")
    fit.add_argument("--refit", action="store_true", help="retrain on all labelled data at the end")
    fit.add_argument("--quiet", action="store_true", help="no progress bar or closing line")
    _data_options(fit)
    fit.set_defaults(func=cmd_fit)

    predict = sub.add_parser("predict", help="predict images with a model saved by `zap fit`")
    predict.add_argument("model_dir", help="the `zap fit --out` folder or its model/ sub-folder")
    predict.add_argument("images", help="an image file or a folder of images")
    predict.add_argument("--out", default="predictions.csv", help="CSV to write (default predictions.csv)")
    predict.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    predict.add_argument("--threads", type=int, help="torch threads, 1 to 1024 (default: one per core that other "
                         "work leaves free)")
    predict.add_argument("--on-corrupt", choices=["fail", "skip"], default="fail")
    predict.add_argument("--quiet", action="store_true")
    predict.set_defaults(func=cmd_predict)


def _add_inspection(sub) -> None:
    """Commands that print what zap knows: meta-features, the search space, the model zoo."""
    meta = sub.add_parser("metafeatures", help="the four ZAP meta-features of a dataset's train split")
    meta.add_argument("data", type=path_arg)
    meta.add_argument("--json", action="store_true")
    _data_options(meta)
    meta.set_defaults(func=cmd_metafeatures)

    space = sub.add_parser("space", help="print the pipeline search space")
    space.add_argument("--json", action="store_true", help="one record per hyperparameter")
    space.add_argument("--markdown", action="store_true", help="the table of docs/search_space.md")
    space.set_defaults(func=cmd_space)

    zoo = sub.add_parser("zoo", help="the pretrained model zoo")
    zoo_sub = zoo.add_subparsers(dest="zoo_command", required=True)
    zoo_list = zoo_sub.add_parser("list", help="models with weight source, parameter count and input size")
    zoo_list.add_argument("--json", action="store_true")
    zoo_list.set_defaults(func=cmd_zoo)


def _add_datasets(sub) -> None:
    """`zap datasets`: the core datasets and their variants."""
    datasets = sub.add_parser("datasets", help="the core datasets and their variants")
    datasets_sub = datasets.add_subparsers(dest="datasets_command", required=True)
    build = datasets_sub.add_parser("build", help="build core datasets into the cache")
    build.add_argument("--only", nargs="+", metavar="NAME", help="build only these cores")
    build.add_argument("--cache", help="cache folder (default $ZAP_DATA or ~/.cache/zap/datasets)")
    build.add_argument("--force", action="store_true", help="rebuild cores already in the cache")
    build.add_argument("--catalogue", action="store_true", help=argparse.SUPPRESS)  # maintainers: record sizes
    build.add_argument("--quiet", action="store_true")
    build.set_defaults(func=cmd_datasets_build)
    listing = datasets_sub.add_parser("list", help="the registry of core datasets")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--cache")
    listing.set_defaults(func=cmd_datasets_list)
    augment = datasets_sub.add_parser("augment", help="draw ICGen-style variants of a core")
    augment.add_argument("core")
    _draw_options(augment, "--n", 5)
    augment.add_argument("--out", help="write the variant specs to this JSON file")
    augment.add_argument("--json", action="store_true")
    augment.add_argument("--cache")
    augment.set_defaults(func=cmd_datasets_augment)


def _draw_options(parser: argparse.ArgumentParser, count_flag: str, count: int) -> None:
    """How variants of a core are drawn: how many, the seed and its rule, the test cap."""
    from zap.data.augment import SEED_RULE, SEED_RULES

    parser.add_argument(count_flag, type=int, default=count, help=f"variants per core (default {count})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-test", type=int, default=300, help="cap on each variant's test set")
    parser.add_argument("--seed-rule", type=int, choices=sorted(SEED_RULES), default=SEED_RULE,
                        help=f"how a draw's seed takes in the core's name (default {SEED_RULE}; 1 draws "
                             "meta-dataset v1's variants again)")


def _add_metadataset(sub) -> None:
    """`zap metadataset`: plan, HPO, build, status, export, info, diversity, report."""
    meta = sub.add_parser("metadataset", help="build the meta-dataset (datasets x candidate pipelines)")
    meta_sub = meta.add_subparsers(dest="metadataset_command", required=True)
    plan = meta_sub.add_parser("plan", help="draw the datasets and start the candidate list of a new plan")
    plan.add_argument("folder")
    _draw_options(plan, "--variants", 4)
    plan.add_argument("--budget", type=float, default=20.0, help="the budget of a one-level plan")
    plan.add_argument("--budgets", type=float, nargs="+", help="budget levels of a multi-level plan (v2: 20 60 120)")
    plan.add_argument("--clock", choices=["cpu", "wall", "steps", "ref"], default="cpu")
    plan.add_argument("--reuse", metavar="PLAN", help="take the variants of the cores that plan has from it")
    plan.add_argument("--cores", nargs="+", help="only these cores")
    plan.add_argument("--cache")
    plan.set_defaults(func=cmd_metadataset_plan)
    from zap.metadataset.build import EXTRA_SEED_BY, NOISE_SAMPLE_SHARE
    from zap.metadataset.plan import HOME_PLAN
    from zap.resources import PLAN

    info = meta_sub.add_parser("info", help="what an exported artifact holds")
    info.add_argument("artifact", type=path_arg)
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=cmd_metadataset_info)
    diversity = meta_sub.add_parser("diversity", help="winners, candidate correlation, Oracle vs Single-best "
                                                      "vs noise, heatmap")
    diversity.add_argument("artifact", type=path_arg, nargs="?", default=str(metadataset_artifact()))
    diversity.add_argument("--out", type=path_arg, help="folder for cost_matrix.png and winners.png")
    diversity.add_argument("--json", action="store_true")
    diversity.set_defaults(func=cmd_metadataset_diversity)
    report = meta_sub.add_parser("report", help="a self-contained HTML report: cost-matrix heatmap, winners, "
                                                "noise floor")
    report.add_argument("artifact", type=path_arg, nargs="?", default=str(metadataset_artifact()),
                        help="a meta-dataset artifact (default: the zap home's shipped one)")
    report.add_argument("--out", type=path_arg, default="reports/metadataset",
                        help="folder for report.html (default %(default)s)")
    report.set_defaults(func=cmd_metadataset_report)
    for name, func, text in (("build", cmd_metadataset_build, "compute the missing cells (resumable)"),
                             ("export", cmd_metadataset_export, "write the compact artifact for selectors"),
                             ("hpo", cmd_metadataset_hpo, "SMAC per core (first variant) -> candidates"),
                             ("status", cmd_metadataset_status, "cells done and core-hours left")):
        command = meta_sub.add_parser(name, help=text)
        command.add_argument("--plan", type=path_arg, default=str(HOME_PLAN),
                             help=f"plan folder (default {PLAN} in the zap home)")
        if name != "hpo":  # HPO seeds each dataset's SMAC run from the dataset's name
            command.add_argument("--seeds", type=int, nargs="+", default=[0],
                                 help="seeds of the full matrix (default 0)")
        if name in ("build", "status", "hpo"):
            command.add_argument("--budget", type=float, nargs="+" if name != "hpo" else None,
                                 help="only these budget levels (default: every level, lowest first)"
                                 if name != "hpo" else "the budget level to tune at (default: the lowest)")
        if name in ("build", "status"):
            command.add_argument("--extra-seed-share", type=float, default=NOISE_SAMPLE_SHARE,
                                 help="share of cells also run with the next seed, for the noise floor "
                                      "(default 0.1; 0 for none)")
            command.add_argument("--extra-seed-top", type=int, default=0, metavar="K",
                                 help="also run the next seed on each complete dataset's K best cells, which "
                                      "decide the Oracle and most picks (default 0: none)")
            command.add_argument("--extra-seed-by", nargs="+", choices=EXTRA_SEED_BY, default=["alc"],
                                 help="rank a dataset's best cells by these measures, their union (default alc; "
                                      "add final so that the final-NAUC Oracle's re-run has a second seed too)")
        command.set_defaults(func=func)
        if name == "export":
            command.add_argument("--out", type=path_arg, default=str(metadataset_artifact()))
        if name == "hpo":
            command.add_argument("--trials", type=int, default=40, help="SMAC trials per dataset")
            command.add_argument("--min-candidates", type=int, default=32)
            command.add_argument("--cores", nargs="+", help="tune only these cores (default: every core)")
        if name == "build":
            command.add_argument("--cores", nargs="+", help="compute only these cores' cells (default: every core)")
            command.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                                 help="where cells compute; on the ref clock a GPU makes the same steps, in float32 "
                                      "(default cpu)")
        if name in ("build", "hpo"):
            command.add_argument("--workers", type=int, help="local workers (default: one per core)")
            command.add_argument("--cluster", choices=["local", "slurm"], default="local")
            command.add_argument("--scheduler", help="address of an existing Dask scheduler")
            command.add_argument("--cache", help="core dataset cache on the workers")
            command.add_argument("--quiet", action="store_true")
        else:
            command.add_argument("--json", action="store_true")


def _add_selection(sub) -> None:
    """Zero-shot selection: `zap suggest`, `zap meta-train`, `zap benchmark`."""
    from zap.benchmark.driver import PROTOCOLS, REFERENCE_POINTS
    from zap.benchmark.loco import MAIN_METHODS

    suggest = sub.add_parser("suggest", help="the top-k pipelines for a dataset, zero-shot")
    suggest.add_argument("data", type=path_arg, help="image folder, .npz, or 'digits'")
    suggest.add_argument("--k", type=int, default=5, help="how many pipelines, at least 1 (default 5)")
    suggest.add_argument("--selector", default=DEFAULT_SELECTOR, choices=TRAINABLE)
    suggest.add_argument("--budget", type=float, help="your time budget (of --clock): a selector trained on "
                         "budget levels ranks for it; others compare it with the meta-dataset's")
    suggest.add_argument("--clock", choices=["wall", "cpu", "ref"], default="wall")
    suggest.add_argument("--threads", type=int, help="the threads your run will use, for converting a wall budget "
                         "(default as `zap fit`: one per core that other work leaves free, one on the cpu clock)")
    suggest.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                         help="the device your run will use, for converting a wall budget (default as `zap fit`)")
    suggest.add_argument("--objective", choices=OBJECTIVES, default="alc",
                         help=OBJECTIVE_HELP)
    suggest.add_argument("--json", action="store_true")
    suggest.add_argument("--no-fallback", action="store_true",
                         help="the selector's own order, even where it has no grounds to deviate from Single-best")
    _data_options(suggest)
    suggest.set_defaults(func=cmd_suggest)

    train = sub.add_parser("meta-train", help="train the selectors on a meta-dataset artifact")
    train.add_argument("artifact", type=path_arg, nargs="?", default=str(metadataset_artifact()))
    train.add_argument("--selectors", nargs="*", default=list(TRAINABLE), choices=TRAINABLE)
    train.add_argument("--out", type=path_arg,
                       help="folder (default $ZAP_SELECTORS, or artifacts/selectors in the zap home)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--as-trials", type=int, default=50, help="SMAC trials tuning ZAP-AS")
    train.add_argument("--objective", nargs="+", choices=OBJECTIVES, default=list(OBJECTIVES),
                       help="train for these objectives (alc: NAME.zsel, final: NAME--final.zsel)")
    train.add_argument("--exclude-cores", nargs="+", default=[], metavar="CORE",
                       help="leave these cores' datasets out (to judge the selectors on data they never saw)")
    train.add_argument("--refine", action="store_true",
                       help="also train the learning-curve predictor of `zap fit --strategy refine` "
                            "(refine-curves.pt)")
    train.set_defaults(func=cmd_meta_train)

    bench = sub.add_parser("benchmark", help="leave-one-core-out benchmark of the selectors (or an ASlib scenario)")
    bench.add_argument("artifact", type=path_arg, nargs="?", default=str(metadataset_artifact()))
    bench.add_argument("--aslib", help="an ASlib scenario folder instead of a meta-dataset")
    bench.add_argument("--json", type=path_arg,
                       help="write {objective: {level: {method: {score, alc, nauc, rank, gap_closed, "
                            "gap_closed_rerun, beats_single_best}}}} here (the first protocol)")
    bench.add_argument("--objective", nargs="+", choices=OBJECTIVES, default=list(OBJECTIVES),
                       help="what selectors learn and picks are scored by: alc (anytime), final (final NAUC)")
    bench.add_argument("--out", type=path_arg, default="runs/benchmark",
                       help="fold results (resumable), report.md, plots")
    bench.add_argument("--protocol", nargs="+", choices=PROTOCOLS, default=list(PROTOCOLS),
                       help="leave one core out, one domain out, and one core out without the candidates tuned on "
                            "it (one repetition, no ablations, ZAP-AS configured as in the loco fold when loco "
                            "runs first); --json reports the first")
    bench.add_argument("--methods", nargs="+", choices=[m for m in MAIN_METHODS if m not in REFERENCE_POINTS],
                       help="only these selectors and baselines (default all; single-best and oracle always run)")
    bench.add_argument("--repetitions", type=int, default=3)
    bench.add_argument("--as-trials", type=int, default=50,
                       help="SMAC trials tuning ZAP-AS, once per outer fold (per block with --as-tunings)")
    bench.add_argument("--as-tunings", type=int, default=0, metavar="N",
                       help="tune ZAP-AS N times per protocol, level and objective instead of once per fold: the "
                            "held-out groups are dealt into N blocks, each tuned without any of its groups' "
                            "datasets (0 = once per fold)")
    bench.add_argument("--hpo-epochs", type=int, default=80, help="cap on ZAP-HPO's training epochs")
    bench.add_argument("--no-ablations", action="store_true")
    bench.add_argument("--max-folds", type=int, help="only the first N outer folds (a reduced run)")
    bench.add_argument("--folds", nargs="+", metavar="GROUP",
                       help="only these held-out cores (domains for lodo): a reduced run over chosen groups")
    bench.add_argument("--levels", nargs="+", type=float, metavar="BUDGET",
                       help="only these budget levels, in seconds (default: every level with a dataset measured on "
                            "every candidate)")
    bench.add_argument("--workers", type=int, help="Dask workers (default one per core; 0 = in this process)")
    bench.add_argument("--scheduler", help="address of an existing Dask scheduler")
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument("--rerun-picks", type=int, default=5, metavar="N",
                       help="fine-tune ZAP-HPO's and ZAP-AS's picks again on N held-out datasets (one per spread-out "
                            "core) at every budget level, under that level's protocol with a new seed, beside the "
                            "stored ALC; 0 = skip")
    bench.set_defaults(func=cmd_benchmark)


def _add_tune(sub) -> None:
    """`zap tune`: HPO on the user's data, warm-started with the zero-shot top-k."""
    tune = sub.add_parser("tune", help="SMAC3 multi-fidelity HPO on a labelled dataset within a time budget, "
                                       "starting from the zero-shot top-k")
    tune.add_argument("data", type=path_arg, help="image folder (one sub-folder per class), .npz with x/y, or 'digits'")
    tune.add_argument("--budget", type=float, required=True,
                      help="the whole search's time budget in seconds of --clock, in (0, 604800]")
    tune.add_argument("--clock", choices=["wall", "cpu", "ref"], default="wall",
                      help="budget clock: wall seconds (default; SMAC's overhead and building models count), "
                           "this thread's CPU seconds, or reference seconds (the same search on any machine)")
    tune.add_argument("--init", choices=["zero-shot", "default"], default="zero-shot",
                      help="SMAC's initial design: the selector's top-k (default) or SMAC's own random one")
    tune.add_argument("--k", type=int, help="zero-shot configurations in the initial design, 1 to 50 (default "
                                           f"{DEFAULT_TUNE_K}); only with --init zero-shot")
    tune.add_argument("--trial-budget", type=float,
                      help="the largest trial's budget T, at most --budget (default: a quarter of it, at least 3 s); "
                           "trials run at T/9, T/3 and T")
    tune.add_argument("--selector", choices=TRAINABLE,
                      help=f"zero-shot selector whose top-k starts the search (default {DEFAULT_SELECTOR}); only "
                           "with --init zero-shot")
    tune.add_argument("--objective", choices=OBJECTIVES, default="alc",
                      help="what trials are scored by on a validation split of the train data: alc (default) or "
                           "final (final NAUC); also picks the selector trained for it")
    tune.add_argument("--test", help="folder of unlabelled images the final model predicts")
    tune.add_argument("--out", type=path_arg,
                      help="output folder: new, empty or an earlier run's, which the complete run replaces "
                           "whole (default: save nothing, print the result)")
    tune.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    tune.add_argument("--threads", type=int, help="torch threads, 1 to 1024 (default: one per core that other "
                         "work leaves free; 1 with --clock cpu)")
    tune.add_argument("--refit", action="store_true",
                      help="retrain the incumbent on all labelled data at the end, for the steps its trial made")
    tune.add_argument("--quiet", action="store_true", help="no line per trial")
    _data_options(tune)
    tune.set_defaults(func=cmd_tune)


def path_arg(text: str) -> str:
    """A path argument: an empty one would silently mean the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: give a path")
    return text


def _say_zap_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """zap's own warnings are for users (files skipped, run folders ignored): one line, like its errors, not
    Python's file:line header and source line. Other libraries' warnings keep their usual form."""
    if issubclass(category, UserWarning) and Path(filename).resolve().is_relative_to(ZAP_SOURCE):
        print(f"zap: warning: {message}", file=file or sys.stderr)
    else:
        _PYTHON_SHOWWARNING(message, category, filename, lineno, file, line)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*NumPy array is not writable.*")
        warnings.showwarning = _say_zap_warning
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        return args.func(args)
    except BrokenPipeError:  # `zap ... | head`
        sys.stderr.close()
        return 0
    except USER_ERRORS as exc:
        if os.environ.get("ZAP_DEBUG"):
            raise
        print(f"zap: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # `zap fit` saves what it had itself; any other command stops here
        print("zap: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
