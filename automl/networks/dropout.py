"""Dropout whose mask is drawn in bulk on the CPU.

PyTorch's CPU dropout draws one Bernoulli sample per element: in a training step of this
project's networks it costs about as much as the linear layer before it (a TabM block of
256 rows × 32 heads × 256: 12 ms against 7 ms, one thread; ``benchmarks/dropout.py``).
:class:`BulkDropout` draws 64-bit random words instead, reads seven uniform bytes from each,
and keeps an element whose byte is at least ``round(256 p)``: inverted dropout at ``p``
rounded to a multiple of 1/256 (0.1 → 0.1016), with the same distribution otherwise, from
the same seeded generator. On other devices (CUDA's fused kernel is fast), in evaluation
mode and where the rounding would reach 0 or 1 it is ``nn.Dropout`` itself.
:func:`draw_masks_in_bulk` puts it in place of every ``nn.Dropout`` of a network, those inside
the ``tabm`` package's modules included.
"""

from __future__ import annotations

import sys

import torch
from torch import nn

#: The seven bytes of a non-negative int64 that are uniform (``random_`` leaves the sign bit 0).
_UNIFORM_BYTES = slice(0, 7) if sys.byteorder == "little" else slice(1, 8)


class BulkDropout(nn.Dropout):
    """``nn.Dropout(p)`` whose CPU training mask is read from random bytes (see the module)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cut = round(self.p * 256)
        if not self.training or x.device.type != "cpu" or not 0 < cut < 256:
            return super().forward(x)
        keep = random_bytes(x.shape) >= cut
        return x * keep * (256 / (256 - cut))


def random_bytes(shape: torch.Size) -> torch.Tensor:
    """A uint8 tensor of ``shape``, uniform on 0–255, from the default CPU generator."""
    n = shape.numel()
    words = torch.empty((n + 6) // 7, dtype=torch.int64).random_()
    return words.view(torch.uint8).view(-1, 8)[:, _UNIFORM_BYTES].reshape(-1)[:n].view(shape)


def draw_masks_in_bulk(network: nn.Module) -> nn.Module:
    """``network`` with each of its ``nn.Dropout`` modules replaced by a :class:`BulkDropout`
    of the same ``p`` (no parameters, so its state dict is unchanged)."""
    for parent in list(network.modules()):
        for name, child in parent.named_children():
            if type(child) is nn.Dropout:
                setattr(parent, name, BulkDropout(child.p))
    return network
