"""Numeric precision of the forward passes: fp32 (the default, bit-exact) or bf16 autocast.

``precision == "bf16"`` runs the forward passes of training (and its PGD), evaluation, inversion and
extraction under ``torch.autocast(dtype=torch.bfloat16)``: convolutions and matrix products in bf16,
reductions, normalisation and losses in fp32 (autocast's own op lists). Parameters, optimiser state,
input images, gradients with respect to the images (PGD, inversion) and everything written to disk stay
float32. ``"fp32"`` enters no autocast context at all, so its arithmetic is the same as code without
this module (the bitwise PGD parity with the robustness library holds).
"""
from __future__ import annotations

import contextlib

import torch

from .settings import PRECISIONS


def check(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def autocast(device, precision: str = "fp32"):
    """A context for the forward passes on ``device``: ``torch.autocast`` with bf16, or nothing (fp32)."""
    if check(precision) == "fp32":
        return contextlib.nullcontext()
    device_type = torch.device(device).type
    return torch.autocast(device_type=device_type, dtype=torch.bfloat16)


class Autocast(torch.nn.Module):
    """``model`` whose ``forward``, ``forward_features`` and ``forward_head`` run under :func:`autocast`
    and return float32, so code that calls the model (PGD, inversion) needs no change and keeps working in
    float32 on the outputs. ``.module`` is the wrapped model (its weights, its state dict)."""

    def __init__(self, module: torch.nn.Module, device, precision: str = "bf16"):
        super().__init__()
        self.module, self.device_type, self.precision = module, torch.device(device).type, check(precision)

    def _run(self, fn, *args):
        with autocast(self.device_type, self.precision):
            out = fn(*args)
        return out.float()

    def forward(self, x):
        return self._run(self.module, x)

    def forward_features(self, x):
        return self._run(self.module.forward_features, x)

    def forward_head(self, features):
        return self._run(self.module.forward_head, features)


def wrap(model, device, precision: str = "fp32"):
    """``model`` itself for fp32, else an :class:`Autocast` view of it (shares its weights)."""
    return model if check(precision) == "fp32" else Autocast(model, device, precision)
