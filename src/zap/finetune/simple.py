"""The optional quick scikit-learn model that gives the very first prediction, before the CNN learns.

It sees 8x8 thumbnails of at most a few hundred training images: the point is a useful prediction
within a small fraction of the budget, the AutoDL winners' trick for early ALC.
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


def make_simple_model(name: str, seed: int):
    if name == "SVC":
        return CalibratedClassifierCV(SVC(random_state=seed), ensemble=False, cv=CALIBRATION_FOLDS)
    if name == "NuSVC":
        return CalibratedClassifierCV(NuSVC(nu=0.1, random_state=seed), ensemble=False, cv=CALIBRATION_FOLDS)
    if name == "RF":
        return RandomForestClassifier(n_estimators=50, max_depth=12, random_state=seed, n_jobs=1)
    if name == "LR":
        return LogisticRegression(max_iter=200)
    raise ValueError(f"unknown simple model {name!r}; choose SVC, NuSVC, RF or LR")


def thumbnails(pixels: torch.Tensor) -> np.ndarray:
    """(N, C, S, S) uint8 -> (N, C*8*8) floats in [0, 1]."""
    small = torch.nn.functional.adaptive_avg_pool2d(pixels.float() / 255.0, THUMBNAIL)
    return small.flatten(1).numpy()


def fit(name: str, x_train: np.ndarray, y_train: np.ndarray, seed: int):
    """The named classifier fitted on thumbnails."""
    model = make_simple_model(name, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train)
    return model


def training_sample(indices: np.ndarray, seed: int) -> np.ndarray:
    """The seeded sample of at most MAX_SAMPLES of `indices` the quick model learns from."""
    if len(indices) <= MAX_SAMPLES:
        return indices
    return np.sort(np.random.default_rng(seed).choice(indices, MAX_SAMPLES, replace=False))


def calibration_failure(name: str, labels: np.ndarray) -> str | None:
    """Why fitting `name` on a sample with these labels must fail for lack of images, or None (other
    failures, such as an infeasible NuSVC `nu`, are not predicted). A calibrated SVC needs every class in
    its sample CALIBRATION_FOLDS times; with many classes a random 500-image sample often misses that, and
    the run then goes without its quick first prediction (RUNNER_VERSION 2 behaviour)."""
    if name not in CALIBRATED:
        return None
    rarest = int(np.bincount(labels)[np.unique(labels)].min())
    if rarest < CALIBRATION_FOLDS:
        return f"a class has {rarest} < {CALIBRATION_FOLDS} images in the quick model's sample"
    return None


def fit_on_images(name: str, cache, indices: np.ndarray, labels: np.ndarray, seed: int):
    """Fit on thumbnails of at most MAX_SAMPLES of `indices` (a seeded sample) from a pixel cache."""
    take = training_sample(indices, seed)
    return fit(name, thumbnails(cache.batch(take)), labels[take], seed)


def predict_proba(model, x: np.ndarray, n_classes: int) -> np.ndarray:
    """(N, n_classes) probabilities; classes absent from the model's training sample get 0."""
    probs = np.zeros((len(x), n_classes))
    probs[:, model.classes_] = model.predict_proba(x)
    return probs
