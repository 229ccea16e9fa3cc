"""Runner overhead: `zap.finetune.run` against a minimal hand-written PyTorch loop.

Both train the same backbone on the same DataLoader (zap's lazy pixel cache, same batch size and
input size) for the same number of steps on the same thread count, evaluation excluded from both.
Repetitions alternate between the two so machine load hits both alike; the ratio of median
throughputs is the figure to read (target >= 0.9).

    python benchmarks/runner_overhead.py --steps 60 --repeats 3 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from zap.data import load_dataset, train_test_split
from zap.finetune import Budget, run
from zap.finetune.batches import CachedImages, InputTransform, PixelCache, endless, input_size, train_loader
from zap.finetune.runner import make_optimizer
from zap.metafeatures import compute
from zap.pipelines import as_dict, complete, create_model
from zap.pipelines.zoo import normalization

CONFIG = {"architecture": "mobilenetv2", "optimizer": "AdamW", "lr": 3e-3, "batch_size": 32,
          "log2_max_size": 5, "augmentation": "crop", "first_simple_model": False}


def runner_throughput(train, config: dict, steps: int, threads: int) -> float:
    result = run(train, None, config, Budget(steps, "steps"), threads=threads, anytime=False)
    return steps * config["batch_size"] / result.elapsed["wall_s"]


def manual_throughput(train, config: dict, steps: int, threads: int) -> float:
    """The smallest honest loop: same model, loader, transform and optimizer; nothing else."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    size = input_size(compute(train).resolution, 2 ** config["log2_max_size"])
    model = create_model(config["architecture"], train.n_classes).train()
    optimizer = make_optimizer(model, config)
    transform = InputTransform(*normalization(config["architecture"]), torch.device("cpu"),
                               config["augmentation"])
    images = CachedImages(PixelCache(train, size), train.labels, np.arange(len(train)))
    batches = endless(train_loader(images, config["batch_size"], seed=0))
    start = time.perf_counter()  # like the runner's clock: after the model is built, decoding included
    for _, (x, y) in zip(range(steps), batches, strict=False):
        loss = torch.nn.functional.cross_entropy(model(transform(x, train=True)), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return steps * config["batch_size"] / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", default="digits")
    args = parser.parse_args()
    train = train_test_split(load_dataset(args.data)).train
    config = as_dict(complete(CONFIG))
    runner_throughput(train, config, 3, args.threads)  # warm-up: first-call costs out of the way
    manual_throughput(train, config, 3, args.threads)
    runner, manual = [], []
    for _ in range(args.repeats):
        runner.append(runner_throughput(train, config, args.steps, args.threads))
        manual.append(manual_throughput(train, config, args.steps, args.threads))
    r, m = statistics.median(runner), statistics.median(manual)
    print(f"runner overhead: {config['architecture']} {args.steps} steps x batch {config['batch_size']}, "
          f"{args.threads} thread(s), data {args.data}, {args.repeats} alternating repeats")
    print(f"{'loop':10s} {'median img/s':>13s} {'all img/s':>30s}")
    print(f"{'zap.run':10s} {r:13.1f} {', '.join(f'{v:.1f}' for v in runner):>30s}")
    print(f"{'manual':10s} {m:13.1f} {', '.join(f'{v:.1f}' for v in manual):>30s}")
    print(f"throughput ratio zap.run / manual = {r / m:.3f}  (target >= 0.9)")


if __name__ == "__main__":
    main()
