"""Seconds per training epoch of each model family's published default, side by side.

TabM's ``k`` members cost about ``k`` forward passes of a plain MLP of the same width per step:
this measures how much, on this machine, to choose the ``k`` the CPU search starts from.
Random data (the cost does not depend on it): ``--rows`` rows of ``--inputs`` inputs, 80% of
them continuous, binary target, batch 256, AdamW, ``torch.set_num_threads(--threads)``. The
networks take turns for ``--rounds`` rounds; each one's fastest epoch is reported (the least
disturbed by whatever else the machine runs).

    PYTHONPATH=. .venv/bin/python benchmarks/family_cost.py --rows 20000 --inputs 100
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from automl.networks import MLPSpec, ModelSpec, TabMSpec, build_model
from automl.train import batch_loss

SPECS: dict[str, ModelSpec] = {
    "mlp 3x256": MLPSpec(n_blocks=3, d_block=256),
    "mlp 3x256 periodic": MLPSpec(n_blocks=3, d_block=256, embedding="periodic"),
    "tabm 3x512 k=32": TabMSpec(n_blocks=3, d_block=512, k=32),
    "tabm 2x512 k=32 periodic_lite": TabMSpec(n_blocks=2, d_block=512, k=32,
                                              embedding="periodic_lite", n_frequencies=48),
    "tabm 2x512 k=8 periodic_lite": TabMSpec(n_blocks=2, d_block=512, k=8,
                                             embedding="periodic_lite", n_frequencies=48),
    "tabm 2x256 k=16": TabMSpec(n_blocks=2, d_block=256, k=16),
}


def epoch_seconds(spec: ModelSpec, x: torch.Tensor, y: torch.Tensor, n_num: int) -> float:
    """Wall seconds of one training epoch of ``spec`` over ``x`` in batches of 256."""
    net = build_model(spec, x.shape[1], 2, n_num=n_num).train()
    optimizer, loss_fn = torch.optim.AdamW(net.parameters(), 1e-3), torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for i in range(0, len(x), 256):
        loss = batch_loss(loss_fn, net(x[i:i + 256]), y[i:i + 256])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--inputs", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, y = torch.randn(args.rows, args.inputs), torch.randint(0, 2, (args.rows,))
    n_num = int(0.8 * args.inputs)
    fastest = dict.fromkeys(SPECS, math.inf)
    for _ in range(args.rounds):
        for name, spec in SPECS.items():
            fastest[name] = min(fastest[name], epoch_seconds(spec, x, y, n_num))
    base = fastest["mlp 3x256"]
    print("| network | s / epoch | × mlp 3x256 |\n|---|---|---|")
    for name, seconds in fastest.items():
        print(f"| {name} | {seconds:.2f} | {seconds / base:.1f} |")


if __name__ == "__main__":
    main()
