"""The memory guard: what a network's training needs, and what this process may still use.

:func:`training_bytes` estimates a trial's peak from its network and batch sizes: five copies of
the parameters (weights, gradients, two optimizer states, the best epoch's copy) and the outputs
of every layer for one training batch, kept for the backward pass and matched by their
gradients (twice each), or those of one scoring batch, whichever is larger. The layers' outputs
per row are measured by one forward pass of two rows with hooks, so every family (TabM's ``k``
members, embeddings) is counted as it is built.

:func:`free_bytes` is what may still be used: ``--memory-limit`` less this process's resident
memory, else the system's available memory (or a cgroup's limit less its use, if lower). A
trial whose estimate exceeds :data:`~automl.config.MEMORY_MARGIN` of it is not trained (see
:class:`~automl.objective.Objective`).
"""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

import torch
from torch import nn

#: Parameter copies during training: weights, gradients, two optimizer states, the best epoch.
PARAMETER_COPIES = 5
GIB = 2**30


def training_bytes(model: nn.Module, sample: torch.Tensor, batch_size: int,
                   eval_batch_size: int) -> int:
    """The estimated peak bytes of training ``model`` (float32) at ``batch_size`` and scoring
    it at ``eval_batch_size``; ``sample``: at least two rows of its inputs."""
    parameters = sum(p.numel() for p in model.parameters()) * PARAMETER_COPIES
    per_row = _outputs_per_row(model, sample[:2])
    activations = max(2 * batch_size * per_row, eval_batch_size * per_row)
    return 4 * (parameters + activations)


def _outputs_per_row(model: nn.Module, sample: torch.Tensor) -> int:
    """The float outputs of every layer (modules without children) for one input row."""
    sizes: list[int] = []

    def hook(module: nn.Module, inputs: object, output: object) -> None:
        if isinstance(output, torch.Tensor):
            sizes.append(output.numel())

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    was_training = model.training
    try:
        model.train()
        with torch.no_grad():
            model(sample)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return -(-sum(sizes) // len(sample))


def free_bytes(limit_bytes: int | None = None) -> int:
    """Bytes this process may still allocate: ``limit_bytes`` less its resident memory, else
    the system's available memory, or its cgroup's room if that is less."""
    if limit_bytes is not None:
        return limit_bytes - _resident_bytes()
    available = _available()
    room = _cgroup_room()
    return min(available, room) if room is not None else available


def _available() -> int:
    """``MemAvailable`` of ``/proc/meminfo`` (no such file, as on macOS: no known bound)."""
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return sys.maxsize
    for line in lines:
        name, _, value = line.partition(":")
        if name == "MemAvailable":
            return int(value.split()[0]) * 1024
    return sys.maxsize


def _cgroup_room() -> int | None:
    """A cgroup v2 memory limit less its use (``None``: no limit)."""
    folder = Path("/sys/fs/cgroup")
    try:
        limit = (folder / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int((folder / "memory.current").read_text())
    except (OSError, ValueError):
        return None


def _resident_bytes() -> int:
    """This process's resident memory (the peak so far where ``/proc`` is missing)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return pages * os.sysconf("SC_PAGE_SIZE")
