"""The quick model: an optional scikit-learn classifier that gives the very first prediction, before the
CNN learns.

It sees 8x8 thumbnails of at most a few hundred training images: the point is a useful prediction
within a small fraction of the budget, the AutoDL winners' trick for early ALC. The search space's
`first_simple_model` switches it on and `simple_model` names it; those names, and the value
`ANSWERED_BY`, predate the name "quick model" and are stored in the v1 meta-dataset, so they stay.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC, NuSVC

THUMBNAIL = 8
MAX_SAMPLES = 500
CALIBRATED = ("SVC", "NuSVC")  # wrapped in a CALIBRATION_FOLDS-fold CalibratedClassifierCV for probabilities
CALIBRATION_FOLDS = 3
FALLBACK = "LR"  # has probabilities of its own: needs no calibration folds
# What `answered_by` (a run's summary, a saved model, the artifact's provenance) says when the quick model's
# prediction stood; "cnn" otherwise. The v1 artifact stores this value, so it cannot change.
ANSWERED_BY = "simple_model"


def make_quick_model(name: str, seed: int):
    if name == "SVC":
        return CalibratedClassifierCV(SVC(random_state=seed), ensemble=False, cv=CALIBRATION_FOLDS)
    if name == "NuSVC":
        return CalibratedClassifierCV(NuSVC(nu=0.1, random_state=seed), ensemble=False, cv=CALIBRATION_FOLDS)
    if name == "RF":
        return RandomForestClassifier(n_estimators=50, max_depth=12, random_state=seed, n_jobs=1)
    if name == "LR":
        return LogisticRegression(max_iter=200)
    raise ValueError(f"unknown quick model {name!r}; choose SVC, NuSVC, RF or LR")


def thumbnails(pixels: torch.Tensor) -> np.ndarray:
    """(N, C, S, S) uint8 -> (N, C*8*8) floats in [0, 1]."""
    small = torch.nn.functional.adaptive_avg_pool2d(pixels.float() / 255.0, THUMBNAIL)
    return small.flatten(1).numpy()


def fit(name: str, x_train: np.ndarray, y_train: np.ndarray, seed: int) -> tuple[object, str]:
    """The named classifier fitted on thumbnails, and the name of what was fitted.

    A calibrated model needs every class of its sample CALIBRATION_FOLDS times; the class-balanced sample
    guarantees that wherever the training set has the images. Where it has not (a class with fewer
    training images), or the named model cannot be fitted at all (NuSVC's `nu` can be infeasible for
    unbalanced classes), logistic regression answers instead: it covers every class with probabilities
    of its own, so the run never goes without its quick prediction (RUNNER_VERSION 3).
    """
    name = planned_model(name, y_train)
    try:
        return _fit_quietly(make_quick_model(name, seed), x_train, y_train), name
    except (ValueError, np.linalg.LinAlgError):
        if name == FALLBACK:
            raise
        return _fit_quietly(make_quick_model(FALLBACK, seed), x_train, y_train), FALLBACK


def planned_model(name: str, y_train: np.ndarray) -> str:
    """What `fit` tries first on these labels: the named model, or FALLBACK where a calibrated model would see
    a class fewer than CALIBRATION_FOLDS times (it still falls back if that fit fails)."""
    if name in CALIBRATED and np.bincount(y_train)[np.unique(y_train)].min() < CALIBRATION_FOLDS:
        return FALLBACK
    return name


def _fit_quietly(model, x: np.ndarray, y: np.ndarray):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)
    return model


def sample_cap(n_classes: int) -> int:
    """How many images the quick model may see: MAX_SAMPLES, raised so each class can appear
    CALIBRATION_FOLDS times."""
    return max(MAX_SAMPLES, CALIBRATION_FOLDS * n_classes)


def training_sample(indices: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    """A seeded class-balanced sample of `indices` of at most `sample_cap` images: the cap is shared out
    evenly, a class with fewer images than its share gives all of them and its rest goes to the others,
    so rare classes are never left out by chance (RUNNER_VERSION 3)."""
    indices = np.asarray(indices)
    classes, counts = np.unique(labels[indices], return_counts=True)
    cap = sample_cap(len(classes))
    if len(indices) <= cap:
        return indices
    rng = np.random.default_rng(seed)
    taken, left = [], cap
    for position, c in enumerate(np.argsort(counts, kind="stable")):
        share = min(counts[c], left // (len(classes) - position))
        members = indices[labels[indices] == classes[c]]
        taken.append(rng.choice(members, share, replace=False))
        left -= share
    return np.sort(np.concatenate(taken))


def random_sample(indices: np.ndarray, seed: int) -> np.ndarray:
    """RUNNER_VERSION 2's sample: MAX_SAMPLES drawn at random, blind to classes. Kept to replay what
    v1 ran (benchmarks/quick_model_failures.py)."""
    if len(indices) <= MAX_SAMPLES:
        return indices
    return np.sort(np.random.default_rng(seed).choice(indices, MAX_SAMPLES, replace=False))


def calibration_failure(name: str, labels: np.ndarray) -> str | None:
    """Why RUNNER_VERSION 2 failed to fit `name` on a sample with these labels, or None (other failures,
    such as an infeasible NuSVC `nu`, are not predicted): its calibrated SVCs needed every class in the
    sample CALIBRATION_FOLDS times, and the run then went without its quick prediction."""
    if name not in CALIBRATED:
        return None
    rarest = int(np.bincount(labels)[np.unique(labels)].min())
    if rarest < CALIBRATION_FOLDS:
        return f"a class has {rarest} < {CALIBRATION_FOLDS} images in the quick model's sample"
    return None


def fit_on_images(name: str, cache, indices: np.ndarray, labels: np.ndarray, seed: int) -> tuple[object, str]:
    """Fit on thumbnails of a class-balanced seeded sample of `indices` from a pixel cache."""
    take = training_sample(indices, labels, seed)
    return fit(name, thumbnails(cache.batch(take)), labels[take], seed)


def predict_proba(model, x: np.ndarray, n_classes: int) -> np.ndarray:
    """(N, n_classes) probabilities; classes absent from the model's training sample get 0."""
    probs = np.zeros((len(x), n_classes))
    probs[:, model.classes_] = model.predict_proba(x)
    return probs
