"""Training seconds per epoch with torch's CPU dropout and with masks drawn in bulk, side by side.

Every network the search builds draws its dropout masks in bulk on the CPU
(:mod:`automl.networks.dropout`). This trains each family's CPU warm-start network (and
TabM's published 3 × 512, k = 32) once as built and once with ``nn.Dropout`` put back, the
two taking turns for ``--rounds`` rounds, and reports each one's fastest epoch (the least
disturbed by the rest of the machine) and the ratio. Random data, as in ``family_cost.py``:
``--rows`` rows of ``--inputs`` inputs, 40% of them each scaling of the same continuous
features (as the search feeds them), binary target, AdamW,
``torch.set_num_threads(--threads)``.

    PYTHONPATH=. .venv/bin/python benchmarks/dropout.py --threads 1
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch import nn

from automl.config import SCALINGS
from automl.data import TaskType
from automl.networks import ModelSpec, TabMSpec, build_model, fit_bins
from automl.networks.dropout import BulkDropout
from automl.queries import network_label
from automl.space import params_from_dict, warm_start
from automl.train import batch_loss


def specs() -> dict[str, tuple[ModelSpec, int]]:
    """The CPU warm start's networks with a dropout (and their batch sizes), and TabM's
    published default."""
    found: dict[str, tuple[ModelSpec, int]] = {}
    for params in warm_start(TaskType.BINARY):
        trial = params_from_dict(params, TaskType.BINARY)
        if getattr(trial.model, "dropout", 0.0) > 0:
            found[f"{network_label(params)}, batch {trial.optim.batch_size}"] = (
                trial.model, trial.optim.batch_size)
    found["tabm 3x512 k=32 (published)"] = (TabMSpec(n_blocks=3, d_block=512, k=32), 256)
    return found


def torch_dropout(network: nn.Module) -> nn.Module:
    """``network`` with PyTorch's own ``nn.Dropout`` in place of each :class:`BulkDropout`."""
    for parent in list(network.modules()):
        for name, child in parent.named_children():
            if isinstance(child, BulkDropout):
                setattr(parent, name, nn.Dropout(child.p))
    return network


def epoch_seconds(network: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    """Wall seconds of one training epoch of ``network`` over ``x`` in batches of ``batch``."""
    network.train()
    optimizer, loss_fn = torch.optim.AdamW(network.parameters(), 1e-3), nn.CrossEntropyLoss()
    start = time.perf_counter()
    for i in range(0, len(x), batch):
        loss = batch_loss(loss_fn, network(x[i:i + batch]), y[i:i + batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--inputs", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, y = torch.randn(args.rows, args.inputs), torch.randint(0, 2, (args.rows,))
    n_num = int(0.4 * args.inputs)
    print(f"| network ({args.threads} thread(s)) | torch's dropout, s / epoch | masks in bulk "
          "| speed-up |\n|---|---|---|---|")
    for name, (spec, batch) in specs().items():
        fastest = {"torch": math.inf, "bulk": math.inf}
        for _ in range(args.rounds):
            for kind in fastest:
                network = build_model(spec, args.inputs, 2, n_num=n_num,
                                      n_scalings=len(SCALINGS),
                                      bins=fit_bins(spec, x, n_num, len(SCALINGS)))
                network = torch_dropout(network) if kind == "torch" else network
                fastest[kind] = min(fastest[kind], epoch_seconds(network, x, y, batch))
        print(f"| {name} | {fastest['torch']:.2f} | {fastest['bulk']:.2f} | "
              f"{fastest['torch'] / fastest['bulk']:.2f}x |")


if __name__ == "__main__":
    main()
